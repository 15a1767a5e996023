"""Word lists the semantic-cache guard reads: negations, opposite pairs, units, code languages, names.

Kept apart from ``guard.py`` so the rules stay short and the lists can grow without touching them.
Every entry is lower case; the guard lower-cases before looking up (except where noted).
"""

from __future__ import annotations

NEGATIONS = frozenset(
    {
        "not", "no", "never", "none", "nothing", "nobody", "neither", "nor", "without", "cannot",
        "cant", "wont", "dont", "doesnt", "isnt", "arent", "wasnt", "werent", "shouldnt", "wouldnt",
        "couldnt", "didnt", "hasnt", "havent", "hadnt", "mustnt", "neednt", "aint",
    }
)  # fmt: skip

# Opposites: each group lists its "+" words, then its "-" words. Two questions that use one group
# with different signs ask opposite things ("enable" vs "disable"), however close their vectors.
_OPPOSITES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "enable": (("enable", "activate", "unmute", "turn on", "switch on"),
               ("disable", "deactivate", "mute", "turn off", "switch off")),
    "switch": (("power on", "power up"), ("power off", "power down")),
    "start": (("start", "launch", "resume", "boot"), ("stop", "halt", "pause", "shutdown", "shut down")),
    "add": (("add", "append", "insert", "attach"), ("remove", "delete", "detach", "strip")),
    "create": (("create", "make", "build", "provision", "generate"), ("drop", "destroy", "delete", "tear down", "remove")),
    "install": (("install", "reinstall"), ("uninstall", "remove")),
    "encrypt": (("encrypt", "encipher"), ("decrypt", "decipher")),
    "encode": (("encode",), ("decode",)),
    "compress": (("compress", "zip", "gzip", "pack"), ("decompress", "unzip", "gunzip", "unpack", "extract")),
    "serialize": (("serialize", "marshal", "stringify"), ("deserialize", "unmarshal", "parse")),
    "mount": (("mount",), ("unmount", "umount", "eject")),
    "lock": (("lock",), ("unlock",)),
    "connect": (("connect", "attach", "pair"), ("disconnect", "detach", "unpair")),
    "subscribe": (("subscribe", "follow"), ("unsubscribe", "unfollow")),
    "login": (("login", "log in", "sign in", "signin"), ("logout", "log out", "sign out", "signout")),
    "upload": (("upload",), ("download",)),
    "import": (("import",), ("export",)),
    "push": (("push",), ("pull", "fetch")),
    "send": (("send",), ("receive",)),
    "increase": (
        ("increase", "raise", "grow", "boost", "enlarge", "maximize", "upgrade", "scale up", "zoom in"),
        ("decrease", "lower", "reduce", "shrink", "minimize", "downgrade", "scale down", "zoom out"),
    ),
    "max": (("max", "maximum", "largest", "biggest", "highest", "greatest", "longest"),
            ("min", "minimum", "smallest", "lowest", "least", "shortest")),
    "order": (("ascending", "asc"), ("descending", "desc", "reverse")),
    "case": (("uppercase", "upper", "capitalize"), ("lowercase", "lower")),
    "temperature": (("hottest", "warmest", "hot", "warm", "heat"), ("coldest", "coolest", "cold", "cool")),
    "quality": (("best", "better", "good", "advantage", "advantages", "pros", "benefit", "benefits"),
                ("worst", "worse", "bad", "disadvantage", "disadvantages", "cons", "drawback", "drawbacks")),
    "position": (("first", "earliest", "beginning", "start", "head", "top"), ("last", "latest", "end", "tail", "bottom")),
    "visible": (("show", "visible", "unhide", "display", "reveal"), ("hide", "invisible", "hidden", "conceal")),
    "expand": (("expand", "unfold", "open"), ("collapse", "fold", "close")),
    "allow": (("allow", "permit", "whitelist", "allowlist", "unblock", "accept"),
              ("block", "deny", "forbid", "blacklist", "denylist", "reject", "ban")),
    "buy": (("buy", "purchase", "acquire"), ("sell",)),
    "join": (("join", "concatenate", "merge", "combine"), ("split", "separate", "divide")),
    "before": (("before", "prior", "earlier"), ("after", "later", "subsequent")),
    "true": (("true", "yes", "success", "succeed", "pass"), ("false", "failure", "fail")),
    "include": (("include", "including"), ("exclude", "excluding")),
    "input": (("input",), ("output",)),
    "read": (("read",), ("write",)),
    "older": (("older", "oldest", "elder", "eldest"), ("younger", "youngest", "newer", "newest")),
    "more": (("more", "most", "many"), ("less", "fewer", "few")),
    "fast": (("fast", "faster", "fastest", "quick", "quickly", "speed up"),
             ("slow", "slower", "slowest", "slowly", "slow down")),
    "left": (("left",), ("right",)),
    "inner": (("inner",), ("outer",)),
    "sync": (("sync", "synchronous", "synchronously"), ("async", "asynchronous", "asynchronously")),
    "public": (("public",), ("private",)),
    "horizontal": (("horizontal", "horizontally"), ("vertical", "vertically")),
    "positive": (("positive",), ("negative",)),
    "import_tax": (("inbound", "incoming", "ingress"), ("outbound", "outgoing", "egress")),
}  # fmt: skip


def _opposites() -> dict[str, tuple[tuple[str, int], ...]]:
    table: dict[str, list[tuple[str, int]]] = {}
    for group, (plus, minus) in _OPPOSITES.items():
        for sign, words in ((1, plus), (-1, minus)):
            for word in words:
                # A word may sit in several groups ("remove" undoes both "add" and "install").
                table.setdefault(word, []).append((group, sign))
    return {word: tuple(marks) for word, marks in table.items()}


OPPOSITES: dict[str, tuple[tuple[str, int], ...]] = _opposites()
OPPOSITE_PHRASES = frozenset(w for w in OPPOSITES if " " in w)

# Units, by the canonical name two questions must share. Abbreviations that are also ordinary
# words or single letters count only right after a number ("5 m", "10s"); see SHORT_UNITS.
UNITS: dict[str, str] = {}
for _canon, _forms in {
    "mm": ("mm", "millimeter", "millimeters", "millimetre", "millimetres"),
    "cm": ("cm", "centimeter", "centimeters", "centimetre", "centimetres"),
    "meter": ("meter", "meters", "metre", "metres"),
    "km": ("km", "kilometer", "kilometers", "kilometre", "kilometres", "kms"),
    "inch": ("inch", "inches"),
    "foot": ("foot", "feet", "ft"),
    "yard": ("yard", "yards", "yd", "yds"),
    "mile": ("mile", "miles"),
    "nautical mile": ("nautical mile", "nautical miles", "nmi"),
    "square meter": ("square meter", "square meters", "square metre", "square metres", "sqm", "m2", "m²"),
    "square foot": ("square foot", "square feet", "sq ft", "sqft", "ft2", "ft²"),
    "acre": ("acre", "acres"),
    "hectare": ("hectare", "hectares"),
    "mg": ("mg", "milligram", "milligrams"),
    "gram": ("gram", "grams", "gramme", "grammes"),
    "kg": ("kg", "kgs", "kilogram", "kilograms", "kilo", "kilos"),
    "ounce": ("ounce", "ounces", "oz"),
    "fluid ounce": ("fluid ounce", "fluid ounces", "fl oz"),
    "pound": ("pound", "pounds", "lb", "lbs", "£", "gbp", "quid", "sterling"),
    "ton": ("ton", "tons", "tonne", "tonnes"),
    "ml": ("ml", "milliliter", "milliliters", "millilitre", "millilitres"),
    "liter": ("liter", "liters", "litre", "litres"),
    "teaspoon": ("teaspoon", "teaspoons", "tsp"),
    "tablespoon": ("tablespoon", "tablespoons", "tbsp"),
    "cup": ("cup", "cups"),
    "pint": ("pint", "pints"),
    "quart": ("quart", "quarts", "qt"),
    "gallon": ("gallon", "gallons", "gal"),
    "celsius": ("celsius", "centigrade", "°c", "℃"),
    "fahrenheit": ("fahrenheit", "°f", "℉"),
    "kelvin": ("kelvin", "kelvins"),
    "second": ("seconds", "sec", "secs"),
    "minute": ("minute", "minutes", "mins"),
    "hour": ("hour", "hours", "hrs", "hr"),
    "day": ("day", "days"),
    "week": ("week", "weeks", "wk", "wks"),
    "month": ("month", "months"),
    "year": ("year", "years", "yr", "yrs"),
    "bit": ("bit", "bits"),
    "byte": ("byte", "bytes"),
    "kb": ("kb", "kilobyte", "kilobytes", "kib"),
    "mb": ("mb", "megabyte", "megabytes", "mib"),
    "gb": ("gb", "gigabyte", "gigabytes", "gib"),
    "tb": ("tb", "terabyte", "terabytes", "tib"),
    "mph": ("mph", "miles per hour"),
    "km/h": ("km/h", "kmh", "kph", "kilometers per hour", "kilometres per hour"),
    "m/s": ("m/s", "meters per second", "metres per second"),
    "watt": ("watt", "watts"),
    "kilowatt": ("kilowatt", "kilowatts", "kw"),
    "horsepower": ("horsepower", "hp"),
    "volt": ("volt", "volts"),
    "joule": ("joule", "joules"),
    "calorie": ("calorie", "calories", "kcal"),
    "dollar": ("dollar", "dollars", "usd", "$", "bucks"),
    "euro": ("euro", "euros", "eur", "€"),
    "yen": ("yen", "jpy", "¥"),
    "percent": ("percent", "percentage", "%", "per cent"),
}.items():
    for _form in _forms:
        UNITS[_form] = _canon
UNIT_PHRASES = frozenset(u for u in UNITS if " " in u)
SHORT_UNITS: dict[str, str] = {
    "m": "meter", "g": "gram", "l": "liter", "s": "second", "h": "hour", "min": "minute",
    "in": "inch", "t": "ton", "w": "watt", "k": "kelvin", "c": "celsius", "f": "fahrenheit",
    "second": "second", "mi": "mile", "ha": "hectare", "cal": "calorie",
}  # fmt: skip

# Programming languages by canonical name. Names that are everyday words count only when written
# with a capital ("Go", "Rust", "Swift", "C", "R"); see CAPITALIZED_LANGUAGES.
LANGUAGES: dict[str, str] = {}
for _canon, _forms in {
    "python": ("python", "python3", "py"),
    "javascript": ("javascript", "js", "node", "nodejs", "node.js", "ecmascript"),
    "typescript": ("typescript", "ts"),
    "java": ("java",),
    "c++": ("c++", "cpp", "cplusplus"),
    "c#": ("c#", "csharp"),
    "f#": ("f#", "fsharp"),
    "objective-c": ("objective-c", "objc", "objectivec"),
    "go": ("golang",),
    "php": ("php",),
    "kotlin": ("kotlin",),
    "scala": ("scala",),
    "haskell": ("haskell",),
    "perl": ("perl",),
    "lua": ("lua",),
    "bash": ("bash", "sh", "zsh", "shell"),
    "powershell": ("powershell", "pwsh"),
    "sql": ("sql", "t-sql", "tsql", "plsql"),
    "elixir": ("elixir",),
    "erlang": ("erlang",),
    "clojure": ("clojure",),
    "ocaml": ("ocaml",),
    "fortran": ("fortran",),
    "cobol": ("cobol",),
    "matlab": ("matlab",),
    "groovy": ("groovy",),
    "solidity": ("solidity",),
    "vba": ("vba", "vb.net", "vbnet", "visual basic"),
    "assembly": ("assembly", "asm"),
    "html": ("html",),
    "css": ("css", "scss", "sass"),
    "zig": ("zig",),
    "nim": ("nim",),
}.items():
    for _form in _forms:
        LANGUAGES[_form] = _canon
CAPITALIZED_LANGUAGES: dict[str, str] = {
    "Go": "go", "Rust": "rust", "Swift": "swift", "C": "c", "R": "r", "Dart": "dart",
    "Julia": "julia", "Ruby": "ruby", "Crystal": "crystal", "Elm": "elm", "D": "d",
}  # fmt: skip

# Names of tools, products and libraries people type in lower case; a capitalized word in mid
# sentence counts as a name anyway.
NAMES = frozenset(
    {
        "docker", "kubernetes", "k8s", "git", "github", "gitlab", "bitbucket", "npm", "pip", "pnpm",
        "conda", "pandas", "numpy", "scipy", "dplyr", "ggplot", "pytest", "jest", "mocha", "vue",
        "angular", "svelte", "django", "fastapi", "laravel", "nginx", "mysql", "postgresql",
        "postgres", "sqlite", "mongodb", "redis", "kafka", "rabbitmq", "elasticsearch", "linux",
        "ubuntu", "debian", "fedora", "centos", "macos", "osx", "ios", "android", "chrome",
        "firefox", "safari", "outlook", "gmail", "slack", "jira", "trello", "aws", "azure", "gcp",
        "heroku", "terraform", "ansible", "vscode", "vim", "emacs", "photoshop", "bitcoin",
        "ethereum", "netflix", "hulu", "spotify", "paypal", "venmo", "youtube", "homebrew", "s3",
        "ec2", "tensorflow", "pytorch", "keras", "sklearn", "webpack", "vite", "eslint", "prettier",
        "mypy", "ruff", "maven", "gradle", "jenkins", "systemd", "ssh", "iphone", "ipad", "macbook",
    }
)  # fmt: skip

# Words that may sit between two names or numbers without giving them an order: "X and Y",
# "X or Y", "X vs Y". Anything else between them ("to", "than", "beat") makes order matter.
SYMMETRIC_LINKS = frozenset({"and", "or", "vs", "versus", "&", "/", ",", "the", "a", "an", "between"})

# Words that give two names a direction when they sit between them: "from A to B", "A than B".
DIRECTIONAL_LINKS = frozenset(
    {"to", "into", "from", "than", "beat", "beats", "beaten", "defeat", "defeats", "defeated", "against",
     "over", "before", "after", "toward", "towards", "onto"}
)  # fmt: skip

# Capitalized words that are not names when they appear mid-sentence.
NOT_NAMES = frozenset({"i", "i'm", "i've", "i'd", "i'll", "ok", "okay"})

NUMBER_WORDS: dict[str, int] = {
    "zero": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7,
    "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14,
    "fifteen": 15, "sixteen": 16, "seventeen": 17, "eighteen": 18, "nineteen": 19, "twenty": 20,
    "thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70, "eighty": 80, "ninety": 90,
    "dozen": 12,
}  # fmt: skip
NUMBER_SCALES: dict[str, int] = {"hundred": 100, "thousand": 1000, "million": 10**6, "billion": 10**9}
