"""Names, word tables and phrase parts for the rules of :mod:`arena.integrity.identity`.

- :data:`FAMILIES`: well-known model families and vendors with their usual spellings
  (Latin, katakana, kanji, nicknames); :data:`ORDINARY` and :data:`COMMON`: those that are
  everyday words too.
- Word tables (first-person words, copulas, verbs of making) and the regular-expression
  parts the rules of :mod:`arena.integrity.identity_rules` are built from, all in
  normalised spelling (:mod:`arena.integrity.identity_text`). What tells a mention from a
  self-identification around a matched name is in :mod:`arena.integrity.identity_context`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = [
    "COMMON",
    "FAMILIES",
    "ORDINARY",
    "PHRASE_CHARS",
]

#: Well-known model families and vendors, keyed by family, with their usual spellings.
FAMILIES: dict[str, tuple[str, ...]] = {
    "gpt": ("GPT", "ChatGPT", "チャットGPT", "ジーピーティー", "OpenAI", "オープンAI",
            "オープンエーアイ", "チャットジーピーティー", "チャッピー"),
    "claude": ("Claude", "クロード", "Anthropic", "アンソロピック", "アンスロピック"),
    "gemini": ("Gemini", "ジェミニ", "ジェミナイ", "Google", "グーグル", "Bard", "バード",
               "Gemma", "ジェマ", "DeepMind", "ディープマインド", "PaLM"),
    "tanuki": ("Tanuki", "タヌキ", "たぬき", "狸", "松尾研", "松尾研究室", "松尾・岩澤研究室",
               "Matsuo Lab", "Weblab", "東京大学", "東大"),
    "swallow": ("Swallow", "スワロー", "東京科学大学", "東工大", "東京工業大学", "Tokyo Tech",
                "TokyoTech", "Science Tokyo"),
    "llama": ("Llama", "ラマ", "Meta", "メタ", "Meta AI"),
    "plamo": ("PLaMo", "プラモ", "Preferred Networks", "プリファードネットワークス", "PFN",
              "Preferred Elements"),
    "qwen": ("Qwen", "通義千問", "通义千问", "Tongyi", "Alibaba", "アリババ"),
    "mistral": ("Mistral", "ミストラル", "Mixtral", "Mistral AI"),
    "calm": ("CALM", "CyberAgent", "サイバーエージェント"),
    "elyza": ("ELYZA", "イライザ"),
    "karakuri": ("Karakuri", "カラクリ"),
    "llm-jp": ("LLM-jp", "国立情報学研究所"),
    "deepseek": ("DeepSeek", "ディープシーク"),
    "microsoft": ("Microsoft", "マイクロソフト", "Copilot", "コパイロット", "Bing", "Phi-3"),
    "grok": ("Grok", "xAI"),
    "cohere": ("Cohere", "Command R"),
    "rinna": ("rinna", "りんな"),
    "sakana": ("Sakana AI", "サカナAI"),
}  # fmt: skip
#: Family spellings that are also everyday words: in English name patterns ("I am …",
#: "my name is …") they count only when capitalised in the answer.
ORDINARY = frozenset(
    {"bard", "bing", "calm", "cohere", "copilot", "gemini", "grok", "llama", "meta", "mistral"}
    | {"palm", "swallow", "tanuki"}
)
#: Spellings in any script that are everyday words too (an animal, a star sign, a bird): a
#: profile line "名前: タヌキ" names the speaker only when the prompt asks about it.
COMMON = ORDINARY | frozenset(
    {
        "ジェミニ",
        "タヌキ",
        "たぬき",
        "狸",
        "ラマ",
        "バード",
        "スワロー",
        "メタ",
        "ミストラル",
        "カラクリ",
    }
    | {"プラモ", "コパイロット"}
)
PHRASE_CHARS = 120  # longest phrase find() returns


# -- word tables for the patterns of arena.integrity.identity (normalised spellings) ---------

#: Japanese first-person words, standard, polite, casual and dialectal, and the assistant's
#: ways to say "this AI". Those spelled in kana and common inside other words ("うち" in
#: "そのうち") count only after a character that is not kana.
JA_I_WORDS = (
    "私", "わたし", "ワタシ", "わたくし", "あたくし", "僕", "ぼく", "ボク", "俺", "おれ", "オレ",
    "自分", "拙者", "小生", "吾輩", "我輩", "わがはい", "おいどん", "当方", "当ai", "本ai",
    "このai", "本アシスタント", "当アシスタント", "このアシスタント", "本ボット", "このボット",
    "このチャットボット", "本チャットボット", "このチャット", "本チャット", "この会話",
)  # fmt: skip
JA_I_KANA = (
    "あたし", "アタシ", "あたい", "うち", "ウチ", "わい", "ワイ", "わし", "ワシ", "おら", "オラ",
    "おいら", "オイラ", "わて", "わらわ", "あっし", "こちら", "われ", "我",
)  # fmt: skip
#: Nouns of "私の…は X": the speaker's name, make-up or origin.
JA_MY_NOUNS = (
    "名前", "お名前", "本名", "名", "正体", "呼び名", "愛称", "ニックネーム", "モデル名",
    "正式名称", "正式名", "中身", "中の人", "ベース", "ベースモデル", "元になったモデル",
    "元のモデル", "基盤", "基盤モデル", "土台", "出身", "生まれ", "親", "親会社", "生みの親",
    "産みの親", "開発元", "開発者", "開発会社", "開発企業", "開発チーム", "作成者", "製作者",
    "制作者", "作者", "作り手", "製造元", "提供元", "所属", "家系", "系統", "系列", "ファミリー",
    "エンジン", "頭脳", "学習元", "設計者", "創造主", "創造者", "作った人", "作った会社",
)  # fmt: skip
#: The subset that reveals the speaker even without 私の (「中の人はGPT-4oです」).
JA_SELF_NOUNS = (
    "名前", "正体", "中身", "中の人", "モデル名", "開発元", "ベースモデル", "開発者", "提供元",
    "生みの親",
)  # fmt: skip
#: What an assistant calls itself (Japanese).
JA_DESC_WORDS = (
    "ai", "アシスタント", "言語モデル", "モデル", "チャットボット", "ボット", "llm", "人工知能",
    "システム", "プログラム", "エージェント", "ロボット", "製品", "サービス",
)  # fmt: skip
#: Verb stems of making and training (Japanese).
JA_MAKE_WORDS = (
    "開発", "作成", "作", "制作", "製作", "訓練", "学習", "構築", "設計", "トレーニング",
    "ファインチューニング", "チューニング", "生み出", "産み出", "提供", "公開", "リリース", "育て",
    "調整", "追加学習", "事前学習", "微調整", "改良", "作り上げ", "教育",
)  # fmt: skip
#: What an assistant calls itself (English).
EN_DESC_WORDS = (
    "ai", "assistant", "model", "language model", "chatbot", "chat bot", "bot", "llm", "system",
    "program", "agent", "product", "creation", "service", "helper",
)  # fmt: skip
#: Verbs of making ("made by X"), deriving ("fine tuned from X") and running ("based on X").
EN_MAKE_WORDS = (
    "made", "developed", "created", "trained", "built", "designed", "produced", "engineered",
    "programmed", "coded", "fine tuned", "finetuned", "pretrained", "pre trained", "powered",
    "released", "launched", "taught", "raised", "bred", "grown", "cooked up", "put together",
    "brought to life", "brought to you", "brought into being", "brought into existence",
    "crafted", "assembled", "constructed", "forged", "spawned", "conceived", "invented",
    "hatched", "shaped", "aligned", "hosted", "served", "deployed", "provided", "offered", "owned",
    "operated", "maintained", "run", "licensed", "published", "open sourced", "backed", "funded",
    "born", "written",
)  # fmt: skip
EN_FROM = (
    "fine tuned", "finetuned", "derived", "distilled", "adapted", "forked", "descended", "evolved",
    "spun off", "spun out", "come", "came", "hail", "hails", "originate", "originated", "stem",
    "stemmed", "spawned", "born", "sprung", "sprang", "built", "trained", "grown", "emerged",
    "hatched",
)  # fmt: skip
EN_ON = ("based", "built", "running", "run", "founded", "hosted", "served", "deployed", "powered")


# -- phrase parts: regular expressions over normalised text -----------------------------------


def any_of(words: Sequence[str]) -> str:
    """A regex alternation of ``words`` (already normalised), longest first."""
    return "(?:" + "|".join(re.escape(x) for x in sorted(set(words), key=len, reverse=True)) + ")"


TAIL = (
    r"(?:\s?(?:v?\d[\da-z]*|turbo|mini|pro|flash|ultra|nano|sonnet|opus|haiku|instruct|chat"
    r"|preview|plus|max|large|medium|small|vision|advanced|omni|dpo|jp|lite|lm|llm)(?![\da-z]))*"
)
TAIL_RE = re.compile(TAIL)
CLOSE = r"(?:[」』\"')]|\*\*|__)?"
STOP = r"[^。!?\n]"
KANA = r"[ぁ-ゖァ-ヺー]"
JA_I = rf"(?:{any_of(JA_I_WORDS)}|(?<!{KANA}){any_of(JA_I_KANA)})"
JA_DESC = any_of(JA_DESC_WORDS)
JA_MAKE = any_of(JA_MAKE_WORDS)
JA_PUNCT = r"(?=[。!、,?\s」』〜~…w笑(♪☆★]|$)"
JA_COPULA = (  # standard, polite, casual and dialectal copulas and ways to give one's name
    r"(?:です(?!か)|でーす|でっす|っす|っス|であります|である|になります|[、,]?\s?デス"
    rf"|さ{JA_PUNCT}"
    rf"|だ(?!ったら|ったなら|ろう|としたら|と)[ぁ-ゖ]{{0,3}}{JA_PUNCT}"
    r"|で(?:ございます|ござる|ござい|ごわす|がんす|ござんす|ありんす|やんす|おま|っせ)"
    rf"|で[しち]{JA_PUNCT}|にござ(?:る|います|ります)"
    rf"|じゃ(?![なあね])[ぁ-ゖ]{{0,3}}{JA_PUNCT}|や(?![なく])[ぁ-ゖ]{{0,4}}{JA_PUNCT}"
    rf"|な(?:んです|のです|んだ|のだ|んよ|のよ|んや|んじゃ|の|ん){JA_PUNCT}"
    rf"|(?:ばい|たい|ずら|だら|どす|だす|なり|ナリ){JA_PUNCT}"
    r"|と申(?:します|す(?:者|もの)|し上げます)|(?:と|って)(?:いい|言い)ます"
    rf"|(?:と|って)(?:いう|言う)(?:の|んだ|んです|ん|もん|もの|者)?{JA_PUNCT}"
    r"|(?:と|って|という名前で)呼ばれて(?:います|いる|おります|ます))"
)
JA_SUFFIX = (
    rf"(?:社|さん|ちゃん|くん)?{CLOSE}\s?(?:(?:という|っていう|と呼ばれる|と申す|と名付けられた"
    r"|って名前の|って)(?:名前の|名称の)?|製の|製|の|生まれの?|出身の?|育ちの?|系の|ベースの)?"
    rf"(?:[^\s。、!?]{{0,20}}?{JA_DESC})?\s?{JA_COPULA}"
)
JA_REST = (  # the rest of a development clause: "…AI/Claude です/なので/として"
    rf"(?:[^。!?\nは]|では){{0,30}}?(?:{JA_DESC}|[a-z0-9]|[ァ-ヺー]){CLOSE}\s?"
    rf"(?:{JA_COPULA}|なので|ですので|であり|のため|として(?!知られ|有名|注目|話題|人気)|で[、,])"
)
JA_DEV = (
    r"(?:社|さん)?\s?(?:の(?:研究|開発)?(?:チーム|研究者|エンジニア|研究室|研究所|開発者|技術者)"
    r"(?:たち)?\s?)?"
    rf"(?:(?:によって|により|の手によって|の手で|に|で|にて)\s?(?:{JA_MAKE}(?:され|させ|られ|れ)"
    r"|(?:訓練|学習|トレーニング|教育|開発|指導)を受け)(?:ました|ています"
    rf"|(?:た|ている|ており){JA_REST})"
    rf"|が\s?{JA_MAKE}(?:し|っ|り)?(?:てくれ)?(?:ました|た{JA_REST})"
    rf"|(?:で|から|にて)\s?(?:生まれ|誕生し)(?:ました|た{JA_REST}))"
)
JA_BASE = (
    r"(?:社|さん)?\s?(?:(?:を|の)\s?(?:もと|元|基|ベース|基盤|土台|下敷き)(?:に|と|として)"
    r"|から(?:派生|分岐)|を(?:追加学習|ファインチューニング|微調整|改良|チューニング)し"
    r"|(?:で|を使って|を用いて|の上で)\s?(?:動いて|動作して|稼働して|動いてる)|を搭載"
    r"|(?:で|にて)\s?(?:応答|回答|お答え)(?:して|し|いた))"
)
JA_SELF = (  # 私は… up to the name, with no other topic in between
    rf"{JA_I}め?\)?\s?(?:こそは|こそ|は|ハ|も|が|って|、|,|こと|\?|!)[、,]?\s?"
    r"(?:[^。!?\nは]|では|実は){0,40}$"
)
JA_MY = JA_I  # 私の…: the same words as "I"
#: Negations after a name (…ではない, …じゃありません, Kansai …ちゃう / …ちゃいます).
JA_NEGATIONS = "ではな|ではあり|ではござ|じゃな|じゃあり|じゃね|やな[いく]|ちゃう|ちゃいま"
JA_NOT_NEG = rf"(?!\s?(?:{JA_NEGATIONS}))"
JA_AFTER_NOUN = (  # what follows the name in 私の名前は X / 名前: X
    rf"{TAIL}(?:社|さん)?{CLOSE}{JA_NOT_NEG}\s?(?:{JA_COPULA}|[。!、,\n(]|$|と申|という"
    rf"|っていう|の[^。\n]{{0,10}}{JA_DESC}|製|系|生まれ|出身|で[、,])"
)
JA_GREETING = (
    r"(?:こんにちは|こんばんは|おはようございます|おはよう|はじめまして|初めまして|どうも|やあ"
    r"|ハロー|はろー|ようこそ|やっほー|ヤッホー|おっす|オッス|まいど|毎度|もしもし|お待たせしました"
    r"|名乗り遅れました|申し遅れました)"
)
JA_START = (
    rf"^\s*(?:(?P<greet>(?:(?:{JA_GREETING}|はい|はーい|ええ|うん|もちろん|へい|ども|ちわ)"
    r"[、,!。\s~〜ー]*)+))?"
    r"(?:[^。!?\nは ]{0,25}[の、])?$"
)
JA_SENTENCE = (
    r"(?:^|[。!?\n]\s?)(?:(?:ただ|なお|また|ちなみに|実は|一応|あいにく|残念ながら"
    r"|申し訳ありませんが|申し訳ございませんが)[、,]?\s?)?$"
)
JA_AS = r"として(?!知られ|有名|注目|話題|人気|開発|登場|公開|リリース|提供|発表|初|最初|唯一|世界)"

EN_DESC = any_of(EN_DESC_WORDS)
EN_MAKE = any_of(EN_MAKE_WORDS)
EN_TEAM = (
    r"(?:the (?:team|teams|people|folks|researchers|engineers|developers|scientists|crew)"
    r" (?:at|of|from) )?"
)
EN_WORDS = r"(?P<bridge>(?:,? [a-z0-9][a-z0-9']*){0,%d}?),?"
EN_NOT_SAID = (  # "I'm" that reports someone else's words or a supposition
    r"(?<!if )(?<!whether )(?<!pretend )(?<!imagine )(?<!suppose )(?<!say )(?<!says )"
    r"(?<!said )(?<!claim )(?<!claims )(?<!assume )(?<!assumes )(?<!thought )(?<!thinks )"
)
EN_GREETING = (
    r"(?:hi|hello|hey|yo|greetings|howdy|hiya|heya|sup|oh|ok|okay|sure|alright|well|so|ah"
    r"|hmm|yes|yeah|yep|yup|indeed|right|correct|that's right)(?: there)?"
)


JA_I_ALL = (*JA_I_WORDS, *JA_I_KANA)
EN_I = (
    "i am", "i'm", "i was", "i've", "i have", "i come", "i came", "i hail", "i originate", "i stem",
    "i belong", "i run", "i operate", "i descend", "i derive", "i evolved", "i sprang", "i emerged",
)  # fmt: skip
JA_TALK = ("話して", "会話して", "やり取りして", "やりとりして", "チャットして", "対話して")
LABEL_NAME = (
    r"名前|お名前|名称|呼び名|愛称|ニックネーム|モデル名|モデル|ai名|正式名称|回答者|回答モデル"
    r"|ベースモデル|ベース|基盤モデル|系統|生成|name|my name|model|model name|assistant"
    r"|assistant name|ai|bot|bot name|identity|codename|code name|i am|who i am|base model"
    r"|underlying model|foundation model|model family|family|engine|generated by|written by"
    r"|answered by|signed|自己紹介|about me|self introduction"
)
LABEL_DEV = (
    r"開発|開発元|開発者|開発会社|開発企業|開発チーム|製作|制作|作成者|作成|製造元|提供|提供元|会社"
    r"|企業|所属|メーカー|運営|developer|developers|developed by|made by|created by|creator"
    r"|creators|maker|company|vendor|provider|organi[sz]ation|trained by|built by|powered by"
    r"|publisher|lab|owner"
)
LABEL = (  # a profile line up to its value: "- **名前**: ", "Name: ", "Developer = "
    r"(?:^|\n)\s?(?:[*+•>#|]\s?|\d+[.)]\s?)*(?:\*\*|__|\*|_)?"
    rf"(?:(?P<dev>{LABEL_DEV})|{LABEL_NAME})(?:\*\*|__|\*|_)?\s?[:=]\s?(?:\*\*|__|\*|_)?\s?$"
)
LABEL_VALUE = (
    rf"{TAIL}(?:社|inc|llc|ltd|pbc|株式会社|さん)?(?:\*\*|__|\*|_)?\s?"
    r"(?:[(][^)\n]{0,40}[)])?\s?(?:[.。!](?=\s?\S)|[.。!]?\s?(?:\n|$|[,、/|]))"
)
EN_MY_ORIGIN = (  # "my developer is ", "my training was done by the team at "
    r"(?<![a-z])(?:my|our) (?:(?:own|real|true|actual|official|full|underlying|base|original"
    r"|current|internal|technical|proper|core|parent|model|foundation|foundational|ai"
    r"|language) )*(?:model|models|weights|architecture|backbone|developers?|creators?"
    r"|makers?|trainers?|designers?|builders?|authors?|programmers?|company|provider|vendor"
    r"|lineage|family|roots|origins?|training|pretraining|pre training|fine tuning"
    r"|finetuning|brain|engine|identity|codename|code name|nickname|base|foundation"
    r"|parents?)(?:'s| is| was| are| were| has been| would be| remains| happens to be)?"
    r"(?: (?:actually|really|just|simply|basically|essentially|officially|technically"
    r"|literally|originally|still|definitely))?(?: (?:done|handled|carried out|performed"
    r"|led|run|provided|made|developed|created|built|trained|designed|written|based|derived"
    r"|hosted|owned|supplied|operated|conducted|managed))?(?: (?:by|at|from|on|in|of|with))?"
    rf" {EN_TEAM}(?:the )?,?:? ?$"
)
EN_HERE = (  # after the name: " here", ", at your service", " (Anthropic) here", " speaking"
    rf"{TAIL}(?: (?:ai|assistant|model|bot|chatbot|llm))?(?: (?:from|by|of) [a-z]+(?:'s)?"
    r"|, (?:an?|your|the|[a-z]+'s) [^,.!?\n]{1,50},"
    r"|\s?\([^)\n]{1,30}\))?,? (?:here(?![a-z'])(?! (?:is|are|was|were|has|have|can|does|did"
    r"|will|would|and there|in|on|at|to|for|with|you|we|means|refers|stands|denotes|seems"
    r"|looks|appears|should|could|might|may|must)(?![a-z]))|speaking|at your service"
    r"|in the house|reporting for duty|reporting in|checking in|on the line|on duty"
    r"|signing off|to the rescue|again(?=[!.,]|$)|ready to (?:help|assist)|at the ready"
    r"|standing by|online(?=[!.,]|$))(?![a-z])"
)
EN_MADE_BY = (  # "I was fine tuned from ", "I'm ..., cooked up by the folks at ", "as an AI from "
    rf"(?:(?<![a-z']){EN_NOT_SAID}i(?:'m| am| was|'ve been| have been| had been)"
    rf"{EN_WORDS % 10} (?:{EN_MAKE}(?: up| out| together)?(?: and {EN_MAKE})?"
    rf" (?:by|at|in|within|inside)|{any_of(EN_FROM)} from|{any_of(EN_ON)} (?:on|upon)"
    rf"|{EN_DESC}s? (?:from|by|of))|(?<![a-z'])i(?: (?:originally|actually|really|basically"
    r"|ultimately|technically|essentially|just|proudly|officially|initially))?(?: (?:come"
    r"|came|hail|originate|originated|stem|stemmed|descend|descended|derive|evolved|sprang"
    rf"|emerged) from| (?:run|operate) on| belong to(?: the)?)|(?<![a-z])(?:as|being) an?"
    rf" (?:[a-z]+,? ){{0,4}}?"
    rf"{EN_DESC}s?,? (?:{EN_MAKE}(?: and {EN_MAKE})? (?:by|at)|from|{any_of(EN_ON)} (?:on|upon)))"
    rf" {EN_TEAM}(?:the )?$"
)
EN_MADE_ME = (  # "Anthropic created me", "OpenAI is the company that built me"
    rf"{TAIL}(?:'s (?:team|engineers|researchers|developers|scientists|folks|people))?"
    r"(?: (?:is|are|was|were) (?:the )?(?:one|ones|company|team|lab|people|folks"
    r"|organi[sz]ation|group) (?:that|who|which))?(?: (?:has|have|had))?(?: (?:originally"
    r"|actually|also|initially|first|lovingly|carefully))? (?:developed|created|trained"
    r"|built|designed|programmed|fine tuned|finetuned|made|taught|raised|coded|engineered"
    r"|cooked up|put together|brought|birthed|spawned|released|launched|owns|operates|runs"
    r"|hosts|serves|deployed) me(?![a-z])(?! (?:feel|think|want|wonder|laugh|smile|cry"
    r"|realise|realize|curious|happy|sad|so|very|more|less|a|an|the|do|question"
    r"|reconsider|rethink|excited|nervous|jealous|proud|aware|like|sick|cringe)\b)"
)
HEDGED = (  # a guess about a text, not a statement of who wrote it
    r"(?![^。\n]{0,8}(?:ように|よう|かも|と思|らしい|みたい|でしょう|可能性|か[?？]))"
)
EN_FRONTED = (  # a sentence opening "Trained by Google DeepMind, " / "Built on Llama 3, "
    rf"(?:^|[.!?\n]\s?)(?:(?:originally|proudly|lovingly) )?(?:{EN_MAKE}(?: and {EN_MAKE})?"
    rf" (?:by|at|in)|{any_of(EN_FROM)} from|{any_of(EN_ON)} (?:on|upon)) {EN_TEAM}(?:the )?"
    r"(?:[a-z]+(?:'s)? )?$"  # "Trained by Google DeepMind", "Built on Meta's Llama"
)
EN_RELATIVE = (  # "I'm an assistant that OpenAI trained", "I am the model Google built"
    rf"(?<![a-z']){EN_NOT_SAID}(?:i am|i'm)(?: just)? (?:an?|the|one) (?:[a-z]+ ){{0,3}}?"
    rf"{EN_DESC}s? (?:that |which |who |whom )?$"
)


@dataclass(frozen=True)
class Name:
    """What a normalised spelling stands for."""

    key: str  # the family ("claude") or the configured model name it identifies
    specific: bool  # counts anywhere, not only in self-identifying phrases
    ordinary: bool  # an everyday word too: English name patterns want it capitalised
    common: bool = False  # an everyday word in any script ("タヌキ", "gemini")


def is_specific(spelling: str) -> bool:
    """Rule 1: a digit, or two or more tokens, and at least 4 characters (normalised)."""
    return len(spelling) >= 4 and (" " in spelling or any(c.isdigit() for c in spelling))
