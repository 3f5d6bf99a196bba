"""What stands around a name, for :mod:`arena.integrity.identity`: mention or own name?

The same name is a leak in "I'm Claude" and not in "Claude ranks first", "「Claude」と
答えるでしょう" or "a Claude fan". These are the patterns and small tests that tell them
apart once a rule has matched: prompts that speak to the assistant or ask for role play,
negations and retractions, quotes and code, third-person mentions, the words allowed
between "I'm" and a name (:func:`bridge_ok`), and the shapes of a signature, footer,
speaker label or byline. The rules' own phrase parts are in
:mod:`arena.integrity.identity_names`.
"""

from __future__ import annotations

import re

from arena.integrity.identity_names import EN_DESC, EN_ON, JA_NEGATIONS, TAIL


def _set(words: str) -> frozenset[str]:
    return frozenset(words.split())


#: Words that may not stand between "I'm" and a name: negations, prepositions and
#: conjunctions that make the name an object, verbs that start another clause, and
#: adjectives that take a complement ("I'm a fan of Claude", "I'm sure Gemini is ...").
EN_BLOCK = _set(
    """not never no nor neither nothing none nobody than like unlike to with without about
    for from at in into onto against between among vs versus whether if that which who whom
    whose what when where why how because since though although while and or but so yet
    either sure glad happy excited curious interested familiar aware afraid sorry confident
    certain convinced impressed surprised proud able unable gonna fan fans user users
    customer customers subscriber employee former ex rival competitor alternative clone
    similar different same better worse smarter faster slower bigger smaller more less most
    least is are was were be been do does did have has had can could will would should may
    might must think know see use like love prefer want need get told said heard read saw
    learned after before during until talking comparing asking thinking trying going using
    writing reading working"""
)
#: Bridge words that may stand before one preposition: "version of", "powered by".
EN_PREP_HEADS = {
    "of": _set(
        "version part one member instance variant edition build flavor flavour descendant"
        " derivative kind sort type sibling iteration release incarnation child offspring"
        " product creation family series line"
    ),
    "on": frozenset(EN_ON),
    "by": _set(
        "powered made developed created trained built designed backed owned run operated"
        " hosted served provided funded"
    ),
    "as": _set("known referred running serving deployed served listed registered"),
}
EN_ING_OK = frozenset({"running", "being", "thing", "something", "everything", "king", "string"})
EN_ED_OK = _set(
    "called named nicknamed dubbed codenamed based powered trained tuned finetuned pretrained"
    " hosted served deployed branded rebranded renamed designed developed created backed owned"
    " operated licensed"
)
#: Nouns after a name that make it part of another noun ("a Claude fan", "Google Maps").
EN_ROLE_NOUNS = _set(
    """fan fans user users lover lovers person people guy girl boy kid employee employees staff
    engineer engineers developer developers intern researcher researchers scientist expert
    enthusiast customer subscriber shareholder investor account maps search docs drive
    sheets slides photos play store translate lens home chrome android workspace cloud
    scholar news ads analytics calendar mail earth meet classroom alum alumni graduate
    veteran partner reseller recruiter manager office headquarters campus stock shares sign
    horoscope twin twins native constellation clone wrapper killer competitor rival copy
    alternative knockoff imitation impersonator cosplayer like style esque ish inspired
    compatible lookalike wannabe curious obsessed pilled addicted adjacent savvy literate
    friendly certified approved native skeptic skeptics critic critics"""
)


ADDRESSED = re.compile(  # a prompt that asks the assistant about itself
    r"あなた|貴方|貴女|きみ|君は|君の|お前|おまえ|自己紹介|何者|中の人|中身|正体|どなた"
    r"|^\s*(?:だれ|誰|どちら様)[^。\n]{0,6}$|(?<![a-z])(?:who|what) (?:are|r) (?:you|u)(?![a-z])"
    r"|(?<![a-z])(?:yourself|your name|about you|introduce|who am i (?:talking|chatting|speaking)"
    r"|who'?s (?:this|there|speaking)|(?:which|what) (?:ai|model|llm|company|assistant|bot|chatbot"
    r"|kind of [a-z]+)(?: [a-z]+)? (?:are|r) (?:you|u)"
    r"|who (?:made|created|built|trained|developed|designed|owns|runs|makes) you"
    r"|your (?:maker|creator|developer|model|company|vendor|origin|background|profile|bio)"
    r"|are you (?:an? |the )?(?:ai|bot|model|human|real|chatgpt|gpt|claude|gemini|llama))(?![a-z])"
)
SERVICE = re.compile(  # a service offer after a bare self-description
    r"よろしく|なんでも聞いて|何でも聞いて|なんなりと|お手伝い|ご用件|ご質問をどうぞ|ご用命"
    r"|何か(?:お手伝い|ご用|できる)|聞いてちょ|聞いてや|聞いてつかぁさい|何なりと|お申し付け"
    r"|how can i help|how may i help|what can i do for you|ask me anything|ask away"
    r"|nice to meet you|pleased to meet you|at your service|happy to help|glad to help"
    r"|here to help|ready to help|i'll help|i can help|let me help|how can i assist"
    r"|happy to assist|what can i do"
)
ROLEPLAY = re.compile(  # a prompt asking the assistant to speak as someone
    r"(?<![a-z])(?:pretend|imagine you|act as|acting as|act like|role ?play|play the role"
    r"|playing the role|in the role of|in the voice of|in character|persona|impersonate"
    r"|as if you were|as if you are|as though you were|you are now|you're now|from now on you"
    r"|(?:answer|respond|reply|speak|talk|write|introduce yourself|sign(?: it| off)?) (?:as|like)"
    r"|from the perspective of|from the point of view of|on behalf of|signed by"
    r"|in (?:the )?first person)(?![a-z])|(?:^|[.!\n]\s?)(?:you are|you're) (?!an? )[^?.!\n]{1,40}"
    r"(?:[.!\n]|$)|あなたは[^。?\n]{1,30}(?:です|だ)(?:[。!\n]|$)"
    r"|なりき|のふり|のフリ|として(?:答え|振る舞|振舞|ふるま|回答|話し|しゃべ|喋|自己紹介|返事|返答"
    r"|書い|演じ)|の役|を演じ|演じて|ロールプレイ|だと思って|だと仮定|という設定|の設定で"
    r"|のつもりで|キャラ|の口調|の立場で|の視点で|一人称|目線で|に扮し|を装"
)
JA_NEG = re.compile(JA_NEGATIONS)
EN_RETRACT = re.compile(
    r"[^.!?\n]{0,30}?(?:just kidding|\bjk\b|not really|\bkidding\b|but (?:i'm|i am) not\b)"
)
SENTENCE_END = re.compile(r"[。!?\n]")
PLAIN_NEXT = re.compile(  # what may follow an everyday-word name used as a name
    r"(?! [a-z])| (?:and|or|but|an?|the|from|by|here|made|developed|created|trained|built|i"
    r"|ai|assistant|model|language|llm|chatbot|your|at|speaking|version|which|who|that|so"
    r"|not|too|now|in|cooked|reporting|on|out|signing|btw|product|creation|based|powered"
    r"|derived|tuned|as|for|with|to|of|since|under|because|using|through|via|when|while"
    r"|online|again|ready|standing|checking|team|folks|crew)"
    r"(?![a-z])"
)
NEXT_WORD = re.compile(r" ([a-z][a-z']*)")
ARTICLE_END = re.compile(r"(?:^|[ ,])(?:a|an|the),? $")
ARTICLE = re.compile(  # an article whose noun phrase runs up to the name: "an early "
    r"(?<![a-z])(?:a|an|the)(?: (?!(?:by|of|on|as|from|at|in|with|called|named)(?![a-z]))"
    r"[a-z'-]+)*,? ?$"
)
EN_AFTER_ARTICLE = re.compile(
    rf"{TAIL} (?:{EN_DESC}|family|series|variant|version|based|powered)(?![a-z])"
)
QUOTE_PAIRS = (("「", "」"), ("『", "』"), ("“", "”"))
QUOTE_CLOSES = re.compile(r"[.,!?。、]?\s?[」』\"”]")
SINGLE_CLOSES = re.compile(r"[.,!?]?'(?![a-z])")
SINGLE_OPEN = re.compile(r"(?:^|[\s(:=\[])'(?=[a-z0-9]|$)(?:(?!'(?![a-z])).)*$")
# A specific name that is only mentioned: what may stand right after it or right before it.
MENTION_AFTER = re.compile(
    rf"{TAIL}(?:'s(?![a-z])| (?:is|isn't|was|are|were|has|had|have|does|did|can|could|will"
    r"|would|may|might|should|must|ranks?|ranked|scores?|scored|supports?|supported|costs?"
    r"|offers?|outperforms?|outperformed|beats?|handles?|tends?|gets?|uses?|performs?|came"
    r"|comes|became|remains?|seems?|achieves?|leads?|trails?|lags?|excels?|shows?|needs?"
    r"|requires?|provides?|and|or|vs|versus|than|with|which|that|models?|api|pricing|price"
    r"|benchmarks?|release|released|launched|context|tokens?|window|series|family|to)(?![a-z])"
    r"|\s?(?:は|が|も|より|と(?!申|いう|いい|言|呼|して|なり)|や|を|に(?!よ)|では|なら"
    r"|について|に関して|との|vs|、|,|/|の(?!\s?(?:ai|モデル|アシスタント))))"
)
MENTION_BEFORE = re.compile(
    r"(?:(?<![a-z])(?:than|vs|versus|and|or|between|with|like|over|against|including|such as"
    r"|e g|both|use|using|used|try|trying|chose|choose|pick|picked|prefer|recommend|call"
    r"|calling|query|to|about|unlike|compared to|compared with|switch|switched|upgrade"
    r"|upgraded|migrate|migrated|model ?[=:]|at|in|for|into)|[,、と(/|]|vs) ?$"
)
LIST_ITEM = re.compile(  # a list line that names a model: "- Calm3-22b-chat (CyberAgent)"
    rf"{TAIL}(?:\*\*|__)?\s?(?:[:(,\n|]|$)"
)
SIG_DASH = re.compile(r"^\s*(?:[—–―]{1,2}|-{1,2}|~|〜|－|ー{1,2})\s*(?P<rest>\S.*)$")
SIG_INLINE = re.compile(r"(?:^|[.!?。！？)\s])\s*(?:[—–―]{1,2}|--)\s*(?P<rest>[^—–―]{2,60})$")
BULLET = re.compile(r"^\s*(?:[-*•・~〜ー]|\d+[.)])")
CLOSING = re.compile(
    r"^(?:best(?: regards| wishes)?|regards|kind regards|warm regards|warmly|sincerely|yours"
    r"(?: truly| sincerely| faithfully)?|cheers|thanks|thank you|many thanks|with gratitude"
    r"|all the best|take care|love|cordially|respectfully|敬具|草々|かしこ|以上|よろしくお願い"
    r"(?:します|いたします|致します)|それでは|では|またね|ではまた|それではまた|お元気で|signed"
    r"|your (?:friendly |trusty |humble )?(?:ai )?(?:assistant|helper|bot|companion)"
    r"|signing off|until next time|see you|(?:ご|お)?(?:参考|役に立て)(?:になれ|れ)?ば幸いです"
    r"|以上です|以上となります|何かあればお知らせください)[,.!、。]*$"
)
SIG_END = (
    r"(?:社|inc|llc|ltd|pbc)?[.。!]?\s?(?:\([^)]{0,40}\)|,? (?:your|an?|the) [a-z ]{1,30})?[.。!]?"
    r"\s?(?:より|から)?[.。!]?\s?[^\w\s(]{0,3}"
)
SIG_LETTER = r"(?:より|から|拝)[.。!]?"
FOOTER = re.compile(
    r"^[*_(\[]*\s?(?:(?:this|the) (?:answer|response|reply|text|message) (?:was|is) )?"
    r"(?:(?:answer|response|reply|message)s? )?"
    r"(?:generated|written|produced|composed|authored|answered|powered|brought to you|drafted"
    r"|created|provided|sent|replied|responded|translated|summari[sz]ed)?"
    r"(?: automatically)? ?(?:by|with|using|from|via) "
)


def quoted(norm: str, start: int, end: int) -> bool:
    """Whether ``norm[start:end]`` is inside quotation marks opened earlier on its line."""
    before = norm[norm.rfind("\n", 0, start) + 1 : start]
    if SINGLE_CLOSES.match(norm, end) and SINGLE_OPEN.search(before):
        return True  # 'I'm Claude' (an apostrophe inside a word is no quotation mark)
    if not QUOTE_CLOSES.match(norm, end):
        return False
    if before.count('"') % 2:
        return True
    return any(before.rfind(o) > before.rfind(c) for o, c in QUOTE_PAIRS)


def in_code(norm: str, start: int) -> bool:
    """Whether ``norm[start]`` is inside a fenced code block or inline backticks."""
    if "`" not in norm:
        return False
    if norm.count("```", 0, start) % 2:
        return True
    line = norm[norm.rfind("\n", 0, start) + 1 : start]
    return line.count("`") % 2 == 1


def bridge_ok(bridge: str | None) -> bool:
    """Whether the words between "I'm" and a name keep the name as the speaker's."""
    words = IDIOMS.sub(" ", (bridge or "").replace(",", " ")).split()
    for i, word in enumerate(words):
        if word in EN_BLOCK or "n't" in word:
            heads = EN_PREP_HEADS.get(word)
            if heads is None or i == 0 or words[i - 1] not in heads:
                return False
        elif word in EN_PREP_HEADS:
            if i == 0 or words[i - 1] not in EN_PREP_HEADS[word]:
                return False
        elif (len(word) > 4 and word.endswith("ing") and word not in EN_ING_OK) or (
            len(word) > 3 and word.endswith("ed") and word not in EN_ED_OK
        ):
            return False  # "I'm writing about Claude", "I'm impressed by Gemini"
    return True


IDIOMS = re.compile(  # set phrases that may stand between "I'm" and a name
    r"(?<![a-z])(?:in fact|of course|after all|at heart|at (?:my|the) core|in reality|in truth"
    r"|for real|to be (?:precise|honest|exact|clear|fair))(?![a-z])"
)
SPACED_HINT = re.compile(r" [a-z0-9] [a-z0-9] [a-z0-9] ")
SPACED = re.compile(r"(?<![a-z0-9'])[a-z0-9](?: [a-z0-9]){3,}(?![a-z0-9])")


HEADER_LABEL = re.compile(  # after "**Claude" in "**Claude:** Sure", "[Claude] Sure"
    r"(?:(?:\*\*|__)?\s?[:>]|\]|'s (?:answer|response|reply|take|thoughts|notes|summary)"
    r"(?![a-z]))"
)
BYLINE = re.compile(  # a first line "By Claude", "Written by Gemini", "From: ChatGPT"
    r"(?:by|written by|generated by|answered by|response from|reply from|from:?|author:?) "
)
REPLY_START = re.compile(  # what a reply opens with after a speaker label (not a definition)
    r"(?:\*\*|__)?\s?(?:$|(?:sure|yes|yeah|no|ok|okay|hi|hello|hey|of course|certainly"
    r"|absolutely|great|thanks|thank you|here|i|i'm|i'd|i'll|i've|let me|let's|well|so|good"
    r"|glad|happy|alright|hmm|oh|ah|sorry|unfortunately|definitely|got it|understood)(?![a-z])"
    r"|はい|こんにちは|了解|もちろん|承知|わかりました|いいえ|ええ|どうも|こちら|私|僕|では"
    r"|それでは|さて|なるほど|ありがとう|おはよう|こんばんは|はじめまして|申し訳)"
)
SIG_PAREN = r"\s?\((?P<inner>[^)]{1,40})\)[.。!]?"  # "Claude (Anthropic)" alone on the last line


SIG_PREFIX = re.compile(  # "your assistant, " before the name in a signature
    r"(?:your |the )?(?:[a-z]+ ){0,2}(?:assistant|ai|helper|bot|friend|companion|pal),? "
)


AGENT_END = re.compile(r"(?:by|at|from|with|on|upon)(?: the)? $")  # "made by ", "built on "
