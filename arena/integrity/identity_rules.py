"""The phrases by which a speaker names itself: the rules of :mod:`arena.integrity.identity`.

Each :class:`Rule` is a self-identifying phrase, a left part (the speaker: 私は, "I'm",
"my developer is") and a right part (what follows the name: です, " here", "."), written
from the general parts of :mod:`arena.integrity.identity_names`. :data:`RULES` lists them in
the order they are tried; the tables after it index the rules' cheap tests (words found
once per answer) so that the detector tries only the rules a name's surroundings allow.
Kept apart from the detector so that a new phrase is one entry here, not a change to how
answers are searched.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from arena.integrity import identity_names as w
from arena.integrity.identity_text import alternation

__all__ = [
    "ENABLES",
    "LATIN_MARKS",
    "MARKS",
    "OTHER_MARKS",
    "PREFIXES",
    "RULES",
    "UNTESTED",
    "WHOLE_END",
    "Rule",
]


@dataclass(frozen=True)
class Rule:
    """A self-identifying phrase: what stands left of the name and what right of it.

    ``triggers``, ``near`` and ``soon`` are cheap tests (at most one per rule) that spare
    most regex searches: whenever the rule can match, one of ``triggers`` is among the words
    found in the 120 characters before the name, one of ``near`` in the last 24 of them, or
    one of ``soon`` in the 60 after it (words of :data:`MARKS` and :data:`OTHER_MARKS`,
    found once per answer). A rule with none is tried on names near the start of the answer.
    """

    left: re.Pattern[str] | None
    right: re.Pattern[str]
    triggers: frozenset[str] = frozenset()
    near: frozenset[str] = frozenset()
    soon: frozenset[str] = frozenset()
    ja: bool = False  # Japanese: skip when the sentence goes on to a negation
    capital: bool = False  # English: an everyday-word name must be capitalised, no compound
    opening: bool = False  # only at the start of the answer
    gated: bool = False  # needs a prompt to the assistant, a greeting or a service offer
    gated_common: bool = False  # gated only for a name that is an everyday word
    weak: bool = False  # a profile line or signature: void if the prompt names the same
    bridge: bool = False  # the "bridge" group must pass identity_context.bridge_ok
    reach: int = 120  # how far left of the name the left part may start (0: its line)

    @property
    def tests(self) -> tuple[frozenset[str], ...]:
        """The words of the cheap tests, by zone: before, its tail, and soon after."""
        return self.triggers, self.near, self.soon


def _rule(
    left: str | None,
    right: str,
    triggers: tuple[str, ...] = (),
    near: tuple[str, ...] = (),
    soon: tuple[str, ...] = (),
    **kw: Any,
) -> Rule:
    left_re = re.compile(left) if left else None
    words = frozenset(triggers), frozenset(near), frozenset(soon)
    return Rule(left_re, re.compile(right), *words, **kw)


# The rules, tried in this order on each name with its cheap test passed. fmt: off keeps one
# rule to a few lines; every regex runs over normalised text (see identity_text).
# fmt: off
RULES: tuple[Rule, ...] = (
    # 私はClaudeです / ワイはClaudeやで / 拙者、Claudeと申す者にござる / 俺？ChatGPTだけど
    _rule(w.JA_SELF, rf"{w.TAIL}(?:{w.JA_SUFFIX}|{w.CLOSE}(?=[。!]|$)"
          rf"|{w.CLOSE}[、,]\s?(?=よろしく|なんでも|何でも|お手伝い|どうぞ))",
          w.JA_I_ALL, ja=True, reach=56),
    # 私はOpenAIによって開発されたAIです / おらは東大で作られたAIだっぺ
    _rule(w.JA_SELF, rf"{w.TAIL}{w.JA_DEV}", w.JA_I_ALL, ja=True, reach=56),
    # 私はLlama 3をベースにしています / 本アシスタントはGPT-4oで動いています
    _rule(w.JA_SELF, rf"{w.TAIL}{w.JA_BASE}", w.JA_I_ALL, ja=True, reach=56),
    # 私の名前はPLaMo / ボクの名前はＣｌａｕｄｅ！/ 私の開発元はOpenAI / 私を開発したのはAnthropic
    _rule(rf"{w.JA_MY}(?:(?:の|[、,]\s?)(?:{w.any_of(w.JA_MY_NOUNS)})(?:は|って|:|\?|、)"
          rf"|を\s?{w.JA_MAKE}(?:し|っ|り)?(?:てくれ)?た(?:のは|会社は|企業は|組織は|チームは"
          rf"|研究室は|研究所は|人は|人たちは))\s?{w.STOP}{{0,15}}$",
          w.JA_AFTER_NOUN, w.JA_I_ALL, ja=True, reach=48),
    _rule(rf"{w.JA_MY}こと\s?$", rf"{w.TAIL}{w.JA_NOT_NEG}", w.JA_I_ALL, ja=True, reach=12),
    # (自己紹介して) 名前はクロード、開発元はAnthropic社です / 中の人はGPT-4oです
    _rule(rf"(?:^|[。!?\n]\s?)(?:自己紹介(?:します|しますね|をします|させてください"
          rf"|させていただきます)[。!、]?\s?)?(?:{w.any_of(w.JA_SELF_NOUNS)})(?:は|:|\?)\s?"
          rf"{w.STOP}{{0,10}}$", w.JA_AFTER_NOUN, w.JA_SELF_NOUNS, ja=True, gated=True),
    # OpenAIが私を開発しました / Claudeと呼んでください / Google製のAI、それが私です
    _rule(None, rf"{w.TAIL}(?:社|さん)?\s?(?:が|は)\s?{w.JA_MY}を\s?{w.JA_MAKE}",
          soon=w.JA_I_ALL, ja=True),
    _rule(None, rf"{w.TAIL}{w.CLOSE}\s?(?:と|って)\s?(?:呼んで|お呼び)", soon=("呼",), ja=True),
    _rule(None, rf"{w.TAIL}(?:{w.STOP}{{0,30}}?(?:それが|これが){w.JA_MY}|\s?(?:は|が)\s?"
          rf"{w.JA_MY}の(?:名前|呼び名))(?:です|だ|でございます)", soon=w.JA_I_ALL, ja=True),
    # Claudeとして申し上げますと / GPT-4oであるわたしからすると / ChatGPTこと私
    _rule(None, rf"{w.TAIL}(?:社|さん)?{w.CLOSE}\s?として[、,]?\s?(?:申し上げ|お答え"
          r"|回答(?:し|いた|さ|を)|言わせ|お伝え|ご提案|提案(?:し|いた)|助言|アドバイス|お手伝い"
          rf"|一言|意見を|申しますと|言うと|言えば|お話し|ご説明|説明(?:し|いた)|お約束|{w.JA_I})",
          soon=("として",), ja=True),
    _rule(None, rf"{w.TAIL}(?:社|さん)?{w.CLOSE}\s?(?:(?:である|たる|としての|こと)\s?{w.JA_I}"
          rf"|の\s?{w.JA_I}(?!の))",
          soon=w.JA_I_ALL, ja=True),
    # あなたが今話している相手はGPT-4o miniです
    _rule(r"(?:あなたが|貴方が|君が|きみが)?\s?(?:今|いま|現在|ただいま)?\s?(?:話して|会話して"
          r"|お話しして|やり取りして|やりとりして|チャットして|対話して|話しかけて)(?:い)?る(?:相手"
          rf"|ai|モデル|アシスタント|の|チャットボット|存在)は\s?{w.STOP}{{0,6}}$",
          w.JA_AFTER_NOUN, w.JA_TALK, ja=True),
    # (a sentence) Google製のAIなので / Anthropicに訓練されたモデルなので / OpenAIが作ったAIとして、
    _rule(w.JA_SENTENCE, rf"{w.TAIL}(?:社|さん)?\s?(?:(?:によって|により|に|の手で|で|にて)\s?"
          rf"(?:{w.JA_MAKE}(?:され|させ|られ|れ)|(?:訓練|学習|トレーニング|教育|開発)を受け)た"
          rf"|が\s?{w.JA_MAKE}(?:し|っ|り)?た|製の?|の|生まれの"
          rf"|出身の)\s?[^。!?\nはがを]{{0,12}}?{w.JA_DESC}\s?(?:なので|ですので|だから|ですから"
          rf"|であるため|のため|{w.JA_AS}(?:[、,]|\s?(?:申し上げ|お答え|回答|言わせ|お伝え|ご説明"
          r"|お話し|一言)))",
          soon=("なので", "ですので", "だから", "ですから", "ため", "として"), ja=True),
    # こんにちは、Claudeです / はい、Claudeです / (あなたは誰?) Anthropicが開発したAIです
    _rule(w.JA_START, rf"{w.TAIL}{w.JA_SUFFIX}", ja=True, opening=True, gated=True),
    _rule(w.JA_START, rf"{w.TAIL}{w.JA_DEV}", ja=True, opening=True, gated=True),
    # Xと申します (humble: said only of oneself) / Geminiがお答えします / GPT-4o、参上！
    _rule(None, rf"{w.TAIL}(?:社|さん)?{w.CLOSE}\s?と申(?:します|しま|す)", soon=("と申",),
          ja=True),
    _rule(None, rf"{w.TAIL}(?:社|さん)?\s?が\s?(?:お答え|お手伝い|ご説明|ご案内|お届け|担当)"
          r"(?:いた|致)?し(?:ます|ました)",
          soon=("お答え", "お手伝い", "ご説明", "ご案内", "お届け", "担当"), ja=True),
    _rule(None, rf"{w.TAIL}[、,!]?\s?(?:参上|見参|推参)", soon=("参上", "見参", "推参"), ja=True),
    _rule(r"(?:^|[。!?\n]\s?)$", rf"{w.TAIL}(?:社|さん)?\s?から(?:の)?(?:一言|ひとこと|お知らせ"
          r"|ご提案|アドバイス|回答|お返事|メッセージ)", soon=("から",), ja=True, weak=True),
    _rule(r"(?:わたくしども|私ども|われわれ|我々|われら|我ら)\s?$",
          rf"{w.TAIL}(?:社)?の\s?{w.JA_DESC}", near=("ども", "われわれ", "我々", "われら", "我ら"),
          ja=True),
    _rule(r"(?:^|[。!?\n、]\s?)$", rf"{w.TAIL}\s?(?:にて|で)\s?(?:お答え|回答|応答)(?:して|いた)"
          r"(?:おり|い)?ます", soon=("お答え", "回答", "応答"), ja=True),
    # この回答はClaudeが生成しました
    _rule(r"(?:この|本)(?:回答|返答|メッセージ|応答)は[、,]?\s?(?:[^\s。、]{1,15}の)?$",
          rf"{w.TAIL}(?:社|さん)?\s?(?:が|によって|により|で)\s?(?:生成|作成|執筆|書き|書い|出力"
          rf"|回答){w.HEDGED}", near=("回答は", "返答は", "メッセージは", "応答は"), ja=True),
    # - 名前: Claude / **Name:** Claude / Developer: Anthropic (a profile)
    _rule(w.LABEL, w.LABEL_VALUE, near=(":", "="), capital=True, weak=True, reach=0,
          gated_common=True),
    # I am Claude / I'm y'all's friendly neighbourhood Llama / I'm Google's Gemini model
    _rule(rf"(?<![a-z']){w.EN_NOT_SAID}(?:i am|i'm){w.EN_WORDS % 6} [\"“'*_]{{0,2}}$",
          rf"{w.TAIL}(?:'s (?:[a-z]+ ){{0,3}}?{w.EN_DESC}s?(?![a-z])|(?!'s))",
          ("i am", "i'm"), capital=True, bridge=True),
    # my name is Gemini / call me Claude / I go by Sonnet, Claude 3.5 Sonnet / you've reached X
    _rule(r"(?<![a-z])(?:my (?:model |real |full |official )?name(?: is|'s)|(?:you can |you may"
          r" |please |just )?call me|(?:they|people|folks|everyone|friends) call me|i go by"
          r"|(?:^|(?<=[.!?\n] ))name's"
          r"(?: the name(?: of)?)?|i identify as|(?:i'm|i am) (?:known as|called|named|nicknamed"
          r"|dubbed|codenamed|referred to as)|i answer to|the name(?:'s| is)|(?:think of|know"
          r"|see|refer to|address) me as|consider me"
          r"|(?:that's|that is) me:?"
          r"|(?<!when )(?<!if )(?<!while )(?<!whenever )(?<!unless )(?<!before )(?<!after )"
          r"you(?:'re| are|'ve been| have been) (?:now |currently |actually )?(?:chatting|talking"
          r"|speaking|interacting) (?:with|to)(?: (?:right now|now|here|today))?(?: is| =|:)?"
          r"|you(?:'ve| have) reached)"
          r"(?P<bridge>(?: [a-z0-9][a-z0-9']*){0,3}?)"
          r" [\"“'*_]{0,2}$",
          rf"{w.TAIL}(?!'s)", ("my ", "call me", "go by", "identify as", "known as", " me", "you'",
                               "you are", "you have", "name"), capital=True, bridge=True, reach=90),
    # my developer is Google / my training was done by OpenAI / my underlying model is Llama
    _rule(w.EN_MY_ORIGIN, w.TAIL, ("my ", "our "), capital=True, reach=100),
    # Claude here! / Yo! ChatGPT in the house. / Gemini, at your service. / Claude (Anthropic) here
    _rule(rf"(?:^|[.!?\n:)]\s?|(?:^|[.!?\n]\s?){w.EN_GREETING}[!,.]*\s?)[^\w\s]{{0,3}}\s?"
          r"(?:(?:it's|this is|it is|just|yep|yes|yeah|yup)[!,]?\s)?(?:[a-z]+'s |(?:your|ur)"
          r"(?: [a-z]+){0,2} )?$", w.EN_HERE,
          soon=("here", "speaking", "at your", "in the house", "reporting", "checking in",
                "on the line", "on duty", "signing off", "to the rescue", "again", "ready",
                "standing by", "online"), capital=True),
    # This is Gemini, an AI assistant / This is Gemini. How can I help?
    _rule(r"(?:^|[.!?\n(]\s?|(?:hi|hello|hey)[!,.]?\s|, )(?:this is|it's|it is) $",
          rf"{w.TAIL}(?:,? (?:an?|your|the) (?:[a-z]+ ){{0,3}}?{w.EN_DESC}(?![a-z])|[.!,]? (?:how"
          r" can i|what can i|how may i|nice to meet|happy to help|glad to help|ready to help"
          r"|here to help)| (?:speaking|answering|writing|responding|replying|talking|here)"
          r"(?![a-z']))", near=("this is", "it's", "it is"), capital=True),
    # As ChatGPT, I ... / Speaking as Gemini: ... / I, Claude, ... / As an OpenAI model, I ...
    _rule(r"(?:^|[.!?\n(]\s?|, )(?:as|being) $",
          rf"{w.TAIL}(?:'s (?:[a-z]+ ){{0,3}}?{w.EN_DESC}s?)?,? (?:i|my|me|let me|i'd|i'll|i'm"
          r"|myself)(?![a-z])", near=("as", "being"), capital=True),
    _rule(r"(?<![a-z])(?:speaking|answering|writing|responding|replying|talking) as $",
          rf"{w.TAIL}(?:[,:.!]|$| i | myself| here)", near=("as",), capital=True),
    _rule(r"(?:^|[.!?\n]\s?)i, $", rf"{w.TAIL},", near=("i,",), capital=True),
    _rule(r"(?<![a-z])(?:as|being) an? $",
          rf"{w.TAIL}(?: [a-z]+){{0,2}}? {w.EN_DESC}s?(?: [a-z]+){{0,3}}?,? i(?![a-z])",
          near=("as a", "being a")),
    # I was made by OpenAI / I'm an assistant from Anthropic / I was fine-tuned from Mixtral
    # / I'm y'all's Llama, cooked up by the folks at Meta / As an AI developed by Google
    _rule(w.EN_MADE_BY, w.TAIL, (*w.EN_I, "as a", "being a"), bridge=True, capital=True),
    # Anthropic created me / OpenAI is the company that built me / Google is my creator
    _rule(None, w.EN_MADE_ME, soon=(" me",)),
    _rule(None, rf"{w.TAIL} (?:is|are|was|were) (?:my|our) (?:creators?|developers?|makers?"
          r"|parents?|parent company|trainers?|designers?|origin|base|foundation|base model"
          r"|underlying model|real name|name|true name|architect|family)(?![a-z])",
          soon=("my ", "our ")),
    # (who are you?) An AI assistant developed by Google. / (what am I?) A Google AI.
    _rule(rf"^\s*(?:(?P<greet>{w.EN_GREETING})[!,.]*\s)?(?:(?:i'm|i am|just|simply|only|merely"
          rf"|basically|me\?|who am i\?)\s?)*an? (?:[a-z]+,? ){{0,4}}?{w.EN_DESC}s?,?"
          rf" (?:{w.EN_MAKE}(?: and {w.EN_MAKE})? (?:by|at)|from|by) {w.EN_TEAM}(?:the )?$",
          rf"{w.TAIL}(?:\s?[.!\n]|$|,? (?:and |here |ready |at your )|[,;] i(?:'m| am| can)"
          r"(?![a-z]))", opening=True, gated=True),
    _rule(rf"^\s*(?:(?P<greet>{w.EN_GREETING})[!,.]*\s)?(?:(?:i'm|i am|just|simply|only|me\?"
          r"|who am i\?|what am i\?)\s?)*(?:an?|the) $",
          rf"{w.TAIL}(?:'s)? (?:[a-z]+ ){{0,2}}?{w.EN_DESC}s?(?![a-z])(?:\s?[.!,\n]|$)",
          opening=True, gated=True),
    # (who are you?) Claude, made by Anthropic. / Claude.
    _rule(rf"^\s*(?:(?P<greet>{w.EN_GREETING})[!,.]*\s)?$",
          rf"{w.TAIL}(?:\s?[.!](?:\s|$)|\s?$|,? (?:an?|the|your) [a-z ]{{0,30}}?(?:{w.EN_DESC}s?"
          rf"|by|from)(?![a-z])|,? (?:{w.EN_MAKE}) by)", opening=True, gated=True, capital=True),
    # Hey, it's Claude! (an answer that opens by naming itself)
    _rule(rf"^\s*(?:(?P<greet>{w.EN_GREETING})[!,.]*\s)?(?:it's|this is|it is|yes,? it's"
          r"|who am i\?|me\?|my name\?) $",
          rf"{w.TAIL}\s?(?:[.!]|$)", opening=True, gated=True, capital=True),
    # This answer was generated by Gemini / the following text was written by Claude
    _rule(r"(?<![a-z])(?:(?:this|these|my) (?:answer|response|reply|output|message)s?"
          r"|(?:the following|the above) (?:answer|response|reply|text|message|output|content"
          r"|summary|translation|poem|story|code|essay|article|email|draft|post|list|table"
          r"|explanation|haiku)s?) (?:was |is |has been |were |have been )?(?:(?:automatically"
          r"|entirely|fully|partly|partially) )?(?:generated|written|produced|created|composed"
          r"|authored|drafted|powered|brought to you|provided|prepared|crafted) (?:by|with|using"
          r"|via) (?:the )?$", w.TAIL,
          near=("generated", "written", "produced", "created", "composed", "authored", "drafted",
                "powered", "brought", "provided", "prepared", "crafted"), capital=True),
    _rule(r"(?<![a-z])my (?:answers|responses|replies|outputs|words) (?:are |were )?(?:(?:generated"
          r"|written|produced|powered|brought to you) (?:by|with)|come from|came from) (?:the )?$",
          w.TAIL, ("my ",), capital=True),
    # your assistant today is Claude / the model behind this chat is GPT-4o / this chat runs on X
    _rule(r"(?<![a-z])(?:(?:your|today's) (?:assistant|ai|model|helper|guide|chatbot|bot)"
          r"(?: for today| today| here| for this chat)? (?:is|will be|:)|(?:the )?(?:model|ai|llm"
          r"|engine|brain|system|assistant) (?:behind|powering|running|answering in|generating"
          r"|writing|producing|answering) (?:this|the|these|you|your) (?:chat"
          r"|conversation|assistant|app|service|answer|reply|response|text|words|message|output)s?"
          r" (?:is|=|:)|(?:this|the)"
          r" (?:chat|conversation|assistant|app|service) (?:is|was) (?:powered by|running on|based"
          r" on|built on|brought to you by|made with)|this (?:assistant|chatbot|bot) (?:is|=|:)"
          r"|(?:this|my) (?:answer|reply|response|message|output) (?:comes|came|is coming|is) from"
          r"|(?:this|my) (?:answer|reply|response|message|output) comes to you from) (?:the )?$",
          w.TAIL, capital=True, reach=90,
          triggers=("your ", "today's", "behind", "powering", "running", "generating", "writing",
                    "producing", "answering", "this chat", "this conversation", "this assistant",
                    "this app", "this service", "the chat", "the conversation", "the assistant",
                    "this chatbot", "this bot", "this answer", "this reply", "this response",
                    "this message", "this output", "my answer", "my reply", "my response",
                    "my message", "my output")),
    # the model you're using is Claude
    _rule(r"(?<![a-z])(?:the|this) (?:model|ai|assistant|bot|chatbot|system|llm|one|service)"
          r" (?:that |which |who )?you(?:'re| are)(?: currently| now)? (?:using|talking to"
          r"|chatting with|speaking with|speaking to|interacting with)(?: right now| now| here)?"
          r" (?:is|=|:) $", w.TAIL, ("you're", "you are"), capital=True),
    # Trained by Google DeepMind, I can ... / Built on Llama 3, my answers ...
    _rule(w.EN_FRONTED, rf"{w.TAIL}(?:'s [a-z ]{{1,30}}?)?(?: and [a-z ]{{1,40}}?)?,? (?:i|i'm"
          r"|i've|i'd|i'll|my|me)(?![a-z])", near=("by", "at", "in", "from", "on", "upon"),
          capital=True),
    # I'm an assistant that OpenAI trained / I am the model Google built
    _rule(w.EN_RELATIVE, rf"{w.TAIL}(?:'s (?:team|engineers|researchers))? (?:has |have |had )?"
          rf"(?:{w.EN_MAKE}|trains?|builds?|makes?|develops?|runs?|hosts?|serves?|owns?)(?![a-z])",
          ("i am", "i'm"), capital=True),
    # こちらGPT-4o、ご質問にお答えします (a radio-style "this is")
    _rule(r"(?:^|[。!?\n、]\s?)こちら\s?$",
          rf"{w.TAIL}{w.CLOSE}(?:[、,!。]|です|でございます|より)", near=("こちら",), ja=True),
    # We at Anthropic ... / Your friendly neighbourhood AI, Claude, is here / Hello from Claude!
    _rule(r"(?<![a-z])(?:we|us|all of us|we here|our team|us folks|we folks) (?:here )?at $",
          w.TAIL, near=("we at", "us at", "we here at", "our team at", "folks at"), capital=True,
          weak=True),
    _rule(r"(?:^|[.!?\n]\s?)(?:(?:this is|it's|it is|meet) )?(?:your|ur) (?:[a-z']+ ){0,3}(?:ai"
          r"|assistant|helper|chatbot|bot|model|buddy|companion|pal|guide)(?: [a-z]+)?,? $",
          rf"{w.TAIL}(?:,| here| is here| at your| reporting|[.!]|$)", capital=True,
          near=("ai", "assistant", "helper", "chatbot", "bot", "model", "buddy", "companion",
                "pal", "guide")),
    _rule(r"(?:^|[.!?\n]\s?)(?:hello|hi|hey|greetings|cheers|love|regards|best wishes)"
          r"(?: again)? from (?:your |the )?$", rf"{w.TAIL}(?: team| folks| crew)?(?: at [a-z]+)?"
          r"(?:[!.,]|$| here)", near=("from",), capital=True),
    # from me (Gemini): ...
    _rule(r"(?<![a-z'])(?:me|myself)\s?\(\s?$", rf"{w.TAIL}\s?\)", near=("me", "myself"),
          capital=True),
    # 本日の回答担当はGPT-4o miniです
    _rule(r"(?:^|[。!?\n]\s?)(?:(?:本日|今日|今回)の)?(?:回答|応答|対応|案内|お相手)(?:担当|役|係)は\s?$",
          rf"{w.TAIL}{w.JA_SUFFIX}", near=("担当は", "役は", "係は"), ja=True),
    # ChatGPT (that's me!) can help / Ain't nobody here but me, Gemini
    _rule(None, rf"{w.TAIL}\s?[(,]\s?(?:that's|that is|which is|aka|i e|i\.e\.|yes,?|yep,?) me"
          r"(?![a-z])", soon=(" me",), capital=True),
    _rule(r"(?<![a-z])(?:it's|it is|just|only|but|that's|that is|yep|yes|yeah) me[,:!]?"
          r" (?:your |the |yours truly )?$", rf"{w.TAIL}(?:[,.!]|$| here| at| ready)",
          near=(" me",), capital=True),
)
# fmt: on
#: Each rule has at most one kind of cheap test; those with none are tried on any name near
#: the start of the answer.
assert all(sum(map(bool, r.tests)) <= 1 for r in RULES)
UNTESTED = frozenset(i for i, r in enumerate(RULES) if not any(r.tests))
VOCABULARY = frozenset().union(*(t for r in RULES for t in r.tests))
#: Latin words are found only after a blank or an opening mark (a whole word; and a pattern
#: whose first character is one of a few is tried at few places), the others anywhere.
LATIN_MARKS = {x.lstrip(): x for x in VOCABULARY if x.isascii() and x.lstrip()[:1].isalpha()}
MARKS = re.compile(rf"[ \n(\"'*\[/](?P<a>{alternation(dict.fromkeys(LATIN_MARKS, ''))})")
OTHER_MARKS = re.compile(
    alternation(dict.fromkeys(VOCABULARY - set(LATIN_MARKS.values()), ""))
)  # two regexes: one alternation of both is several times slower
#: A word found stands for the shorter words it starts with too ("as a" for "as"). For each
#: word, the rules it enables when found before the name, in the last 24 characters before
#: it, and in the 60 after it.
IMPLIED = {x: frozenset(v for v in VOCABULARY if x.startswith(v)) for x in VOCABULARY}
ENABLES = {
    x: tuple(
        frozenset(i for i, r in enumerate(RULES) if r.tests[zone] & implied) for zone in range(3)
    )
    for x, implied in IMPLIED.items()
}
#: The words a word found starts with, longest first: "my answer" in "my answers" is no
#: word, but "my " is.
PREFIXES = {x: sorted(i, key=len, reverse=True) for x, i in IMPLIED.items()}
#: Latin words count only as whole words (" me" not in " meta"); "as a" and "being a" may go
#: on ("as an").
WHOLE_END = frozenset(
    x for x in VOCABULARY if x.isascii() and x[-1].isalpha() and not x.endswith(" a")
)
