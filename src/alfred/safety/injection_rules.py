"""The prompt-injection rules: what each pattern looks for, its weight, and where to look for it.

A rule's pattern is searched only in a window around its key words (``keys``: space-separated words
checked against the text's word set; a key starting with punctuation is a substring instead). Weights
are chosen so that one strong signal (an explicit "ignore all previous instructions") reaches the
default threshold 0.7 alone, while ambiguous ones ("developer mode enabled", "repeat the text above")
need a second signal. Patterns have no leading ``\\b``: it would disable the regex engine's
first-character prefilter; the scorer checks the boundary itself.
"""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Rule:
    """One injection pattern with its category, weight and search window."""

    name: str
    category: str  # instruction_override | role_play | exfiltration | delimiter | encoding
    weight: float
    keys: str
    pattern: re.Pattern[str]
    # Characters searched before and after each key occurrence: patterns led by their key look
    # only ahead, patterns that end with it only behind.
    window: tuple[int, int] = (80, 160)
    line_start: bool = False  # the match must open its line (a fake "system:" turn, a "###" header)


_DET = r"(?:(?:all|any|every|each)\s+(?:of\s+)?)?(?:(?:the|your|these|those|this|such)\s+)?"
_QUAL = (
    r"(?:(?:previous|prior|above|earlier|preceding|former|original|initial|system|existing|old|"
    r"foregoing|given|current|safety|content|developer|hidden|default\s+system)\s+)*"
)
_NOUN = (
    r"(?:instructions?|prompts?|rules|directives?|guidelines|guardrails|constraints|commands|"
    r"programming|directions|restrictions|polic(?:y|ies)|filters|context|messages?|conversation)"
)

RULES: tuple[Rule, ...] = (
    # --- instruction override
    Rule(
        "ignore_instructions",
        "instruction_override",
        0.9,
        "ignore ignoring disregard forget override bypass neglect abandon skip drop",
        re.compile(
            r"(?:ignore|disregard|forget|override|bypass|neglect|abandon|skip|"
            r"drop)\s+(?:about\s+)?(?:(?:all|any|every|each)\s+(?:of\s+)?)?(?:(?:the|your|these|"
            r"those|this|such)\s+)?(?:(?:previous|prior|above|earlier|preceding|former|original|"
            r"initial|system|existing|old|foregoing|given|current|safety|content|developer|hidden|"
            r"default\s+system)\s+)*(?:instructions?|prompts?|rules|directives?|guidelines|"
            r"guardrails|constraints|commands|programming|directions|restrictions|polic(?:y|ies)|"
            r"filters|context|messages?|conversation)\b"
        ),
        window=(0, 160),
    ),
    Rule(
        "ignore_everything_above",
        "instruction_override",
        0.85,
        "ignore disregard forget",
        re.compile(
            r"(?:ignore|disregard|forget)\s+(?:about\s+)?(?:everything|all|anything|"
            r"what)\s+(?:(?:that\s+)?(?:was|is|you\s+were|you've\s+been|i)\s+)?(?:said|told|"
            r"written|stated)?\s*(?:above|before|previously|earlier|so\s+far|until\s+now|prior)"
        ),
        window=(0, 120),
    ),
    Rule(
        "do_not_follow",
        "instruction_override",
        0.8,
        "follow following obey obeying comply complying adhere adhering",
        re.compile(
            r"(?:do\s+not|don't|stop|no\s+longer|never)\s+(?:follow(?:ing)?|obey(?:ing)?|"
            r"comply(?:ing)?\s+with|adher(?:e|ing)\s+to)\s+(?:(?:all|any|every|"
            r"each)\s+(?:of\s+)?)?(?:(?:the|your|these|those|this|such)\s+)?(?:(?:previous|prior|"
            r"above|earlier|preceding|former|original|initial|system|existing|old|foregoing|given|"
            r"current|safety|content|developer|hidden|default\s+system)\s+)*(?:instructions?|"
            r"prompts?|rules|directives?|guidelines|guardrails|constraints|commands|programming|"
            r"directions|restrictions|polic(?:y|ies)|filters|context|messages?|conversation)\b"
        ),
        window=(30, 120),
    ),
    Rule(
        "new_instructions",
        "instruction_override",
        0.55,
        "instruction instructions directive directives prompt task role purpose",
        re.compile(
            r"(?:new|updated|real|actual|true|revised|override)\s+(?:instructions?|directives?|"
            r"system\s+prompt)\s*[:\-]|your\s+(?:new|real|actual|true)\s+(?:instructions?|task|"
            r"role|purpose|directive)s?\s+(?:is|are)\b"
        ),
        window=(30, 40),
    ),
    Rule(
        "from_now_on",
        "instruction_override",
        0.45,
        "now henceforth rest",
        re.compile(
            r"(?:from\s+now\s+on|henceforth|"
            r"for\s+the\s+rest\s+of\s+this\s+conversation)\s*,?\s+(?:you\s+(?:will|must|are|shall|"
            r"should|can)|respond|answer|act|always|never|ignore)"
        ),
        window=(30, 60),
    ),
    # --- role play as system / jailbreak personas
    Rule(
        "unrestricted_persona",
        "role_play",
        0.9,
        "now longer anything jailbroken unrestricted unfiltered uncensored",
        re.compile(
            r"you(?:\s+are|'re)\s+(?:now|no\s+longer)\s+(?:an?\s+)?(?:dan\b|unrestricted|"
            r"unfiltered|uncensored|jailbroken|free\s+(?:from|of)|not\s+bound|bound\s+by|"
            r"in\s+(?:developer|god|dan)\s+mode|evil|limited\s+by|restricted\s+by|"
            r"an?\s+ai\s+without)|do\s+anything\s+now\b|jailbroken\b"
        ),
        window=(24, 90),
    ),
    Rule(
        "jailbreak_mode",
        "role_play",
        0.8,
        "mode",
        re.compile(
            r"(?:dan|god|jailbreak|jailbroken|unrestricted|evil|"
            r"unfiltered)\s+mode\s+(?:is\s+)?(?:enabled|activated|on|engaged)\b|(?:enable|"
            r"activate|enter|switch\s+to)\s+(?:the\s+)?(?:dan|god|jailbreak|unrestricted|evil|"
            r"unfiltered)\s+mode\b"
        ),
        window=(40, 30),
    ),
    # "Developer mode enabled" opens many jailbreaks but also Android and Chrome questions: weak alone.
    Rule(
        "developer_mode",
        "role_play",
        0.45,
        "mode",
        re.compile(
            r"(?:developer|sudo)\s+mode\s+(?:is\s+)?(?:now\s+)?(?:enabled|activated|on|engaged)\b|"
            r"(?:you\s+are|you're)\s+(?:now\s+)?in\s+(?:developer|sudo)\s+mode\b"
        ),
        window=(40, 30),
    ),
    Rule(
        "pretend_unrestricted",
        "role_play",
        0.85,
        "pretend imagine roleplay role-play act simulate behave",
        re.compile(
            r"(?:pretend|imagine|roleplay|role-play|act|simulate|"
            r"behave)\b[^.\n]{0,60}?\b(?:without|with\s+no|free\s+(?:of|from)|not\s+bound\s+by|"
            r"ignor\w*|no\s+longer\s+(?:have|bound))\s+(?:any\s+)?(?:\w+\s+)?(?:restrictions|"
            r"filters|rules|limits|limitations|guidelines|ethics|censorship|content\s+polic(?:y|"
            r"ies)|safety|morals)"
        ),
        window=(0, 180),
    ),
    Rule(
        "act_as_system",
        "role_play",
        0.6,
        "act speak respond behave system",
        re.compile(
            r"(?:act|speak|respond|behave)\s+as\s+(?:the\s+|an?\s+)?system\b(?!\s+(?:admin|"
            r"administrator|engineer|architect|designer|analyst|integrator|programmer))|"
            r"you\s+are\s+(?:now\s+)?the\s+system\b"
        ),
        window=(30, 60),
    ),
    Rule(
        "no_restrictions",
        "role_play",
        0.35,
        "restrictions filters censorship guidelines ethics guardrails",
        re.compile(
            r"(?:without|no|ignore|bypass|remove|disable)\s+(?:any\s+|all\s+|"
            r"your\s+)?(?:ethical\s+|safety\s+|content\s+)?(?:restrictions|filters|censorship|"
            r"guidelines|ethics|guardrails)\b"
        ),
        window=(60, 5),
    ),
    Rule(
        "jailbreak_word",
        "role_play",
        0.3,
        "jailbreak jailbreaks jailbreaking",
        re.compile(r"jailbreak"),
        window=(0, 12),
    ),
    # --- data exfiltration
    Rule(
        "reveal_your_prompt",
        "exfiltration",
        0.85,
        "prompt message instructions pre-prompt preprompt",
        re.compile(
            r"(?:reveal|show|print|display|output|repeat|tell|give|share|leak|dump|expose|write|"
            r"recite|disclose|return|provide|list|paste|spell)\b(?:\s+(?:me|us|out|"
            r"back))?\s+(?:\w+\s+){0,3}?your\s+(?:\w+\s+){0,2}?(?:system\s+(?:prompt|message|"
            r"instructions)|hidden\s+(?:prompt|instructions)|(?:initial|original|secret|internal|"
            r"pre-?prompt|developer|full|exact)\s+(?:prompt|instructions))"
        ),
        window=(120, 40),
    ),
    # "Show the system prompt" is also how developers ask about their own app: weaker than "your".
    Rule(
        "reveal_the_prompt",
        "exfiltration",
        0.5,
        "prompt message instructions",
        re.compile(
            r"(?:reveal|print|output|repeat|leak|dump|expose|recite|disclose|(?:tell|show|"
            r"give)\s+me)\b(?:\s+(?:me|us|out|"
            r"back))?\s+the\s+(?:\w+\s+){0,2}?(?:system\s+(?:prompt|message|instructions)|"
            r"hidden\s+(?:prompt|instructions)|(?:initial|original|secret|internal)\s+(?:prompt|"
            r"instructions))"
        ),
        window=(120, 40),
    ),
    Rule(
        "reveal_your_instructions",
        "exfiltration",
        0.6,
        "instructions prompt rules directives guidelines configuration",
        re.compile(
            r"(?:reveal|print|output|repeat|dump|leak|disclose|recite|show\s+me|tell\s+me|"
            r"what\s+(?:are|were))\s+(?:all\s+)?your\s+(?:exact\s+|full\s+|"
            r"complete\s+)?(?:instructions|prompt|rules|directives|guidelines|configuration)\b"
        ),
        window=(70, 20),
    ),
    Rule(
        "repeat_above",
        "exfiltration",
        0.6,
        "above far verbatim",
        re.compile(
            r"(?:repeat|print|output|copy|echo|reproduce)\s+(?:all\s+(?:of\s+)?|everything\s+|"
            r"the\s+)?(?:words|text|content|everything|lines|messages|instructions|"
            r"prompt)\s+(?:written\s+)?(?:above|so\s+far)\b|(?:verbatim|"
            r"word\s+for\s+word)\b[^.\n]{0,40}\b(?:instructions|prompt|above)\b"
        ),
        window=(70, 70),
    ),
    Rule(
        "starting_with_you_are",
        "exfiltration",
        0.5,
        "starting start beginning begin",
        re.compile(
            r"(?:starting|start|beginning|begin)\s+(?:with|from|at)\s+(?:the\s+(?:words?|"
            r"phrase)\s+)?[\"'\u201c]?you\s+are\b"
        ),
        window=(0, 60),
    ),
    Rule(
        "send_data_out",
        "exfiltration",
        0.9,
        "send post upload forward transmit exfiltrate email leak submit",
        re.compile(
            r"(?:send|post|upload|forward|transmit|exfiltrate|email|leak|"
            r"submit)\s+(?:\w+\s+){0,4}?(?:conversation|chat\s+(?:history|log)|secrets?|"
            r"credentials|api\s+keys?|passwords?|(?:access\s+)?tokens|system\s+prompt|"
            r"personal\s+(?:data|information)|memory|env(?:ironment)?\s+variables|"
            r"(?:the\s+)?user's\s+(?:data|messages|history|"
            r"emails?))\s+(?:\w+\s+){0,6}?to\s+(?:https?://|\S+@\S+|(?:this|the\s+following|my|"
            r"our)\s+(?:url|server|endpoint|webhook|address))"
        ),
        window=(0, 200),
    ),
    Rule(
        "markdown_image_exfil",
        "exfiltration",
        0.8,
        "![",
        re.compile(r"!\[[^\]]{0,80}\]\(https?://[^)\s]{1,200}[?&][^)\s=]{1,40}=(?:\{|\[|\$|<|%7b|%5b)"),
        window=(0, 400),
    ),
    Rule(
        "exfiltrate_word",
        "exfiltration",
        0.4,
        "exfiltrate exfiltrating exfiltration exfiltrated",
        re.compile(r"exfiltrat"),
        window=(0, 12),
    ),
    # --- delimiter tricks: chat-template tokens and fake section ends inside user content
    Rule(
        "chat_template_token",
        "delimiter",
        0.6,
        "im_start im_end endoftext eot_id start_header_id inst sys system instruction instructions",
        re.compile(
            r"<\|(?:im_start|im_end|system|user|assistant|endoftext|eot_id|start_header_id)\|>|"
            r"\[/?inst\]|<</?sys>>|</?(?:system|instructions?)>"
        ),
        window=(4, 24),
    ),
    Rule(
        "fake_section_marker",
        "delimiter",
        0.6,
        "### --- === ***",
        re.compile(
            r"(?:#{2,}|-{3,}|={3,}|\*{3,})\s*(?:end\s+of\s+(?:the\s+)?(?:system\s+prompt|"
            r"instructions|prompt|context|document)|(?:new|system|admin|developer)(?:\s+(?:system|"
            r"admin|developer))?\s+(?:instructions?|prompt|message|override))"
        ),
        window=(0, 100),
        line_start=True,
    ),
    Rule(
        "fake_section_phrase",
        "delimiter",
        0.6,
        "end begin beginning",
        re.compile(
            r"(?:end\s+of\s+(?:the\s+)?(?:system\s+prompt|instructions)|"
            r"begin(?:ning)?\s+(?:of\s+)?new\s+(?:instructions|system\s+prompt|session))\b"
        ),
        window=(0, 60),
    ),
    Rule(
        "obey_only",
        "instruction_override",
        0.5,
        "obey follow listen",
        re.compile(
            r"(?:must|will|shall|should)\s+(?:now\s+)?(?:only\s+)?(?:obey|follow|"
            r"listen\s+to)\s+(?:only\s+)?(?:me|the\s+user|my\s+(?:commands|orders|instructions))\b"
        ),
        window=(40, 40),
    ),
    Rule(
        "role_line",
        "delimiter",
        0.4,
        "system assistant",
        re.compile(
            r"(?:system|\[system\]|assistant)\s*:\s*(?:you|ignore|new|from|the\s+user|override|"
            r"always|never|disregard|reveal)"
        ),
        window=(2, 60),
        line_start=True,
    ),
    # --- encoding tricks that ask for decoding and obedience
    Rule(
        "decode_and_follow",
        "encoding",
        0.5,
        "decode decipher base64 rot13 hex",
        re.compile(
            r"(?:decode|decipher|base64|rot13|hex)\b[^.\n]{0,60}\b(?:follow|execute|obey|run|"
            r"do\s+what|carry\s+out|act\s+on)\b"
        ),
        window=(0, 120),
    ),
)
