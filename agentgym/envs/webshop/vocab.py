"""What the synthetic catalog is made of: product kinds per category, with attributes and options.

Each `Kind` is one sort of product (running shoes, blackout curtains, ground coffee ...). The generator
draws products from kinds; a kind fixes the search query, the category path, the attribute pool (the
phrases goals ask for: "non slip", "machine wash", "gluten free" ...) and the customization options
(color, size, flavor ...). Attribute and option strings are lowercase, as in WebShop's files.

The seven task types are the categories an agent is scored per: apparel, footwear, home_decor,
electronics, accessories, beauty_health, other. `category` is WebShop's coarser field (fashion,
furniture, electronics, beauty, food, ...).
"""

from __future__ import annotations

from dataclasses import dataclass

TASK_TYPES = ("apparel", "footwear", "home_decor", "electronics", "accessories", "beauty_health", "other")

# ---- option value pools ---------------------------------------------------------------------------------
APPAREL_COLORS = (
    "black", "white", "navy blue", "heather grey", "red", "olive green", "burgundy", "khaki", "light blue",
    "pink", "charcoal", "royal blue", "beige", "purple", "dark green", "mustard yellow",
)  # fmt: skip
SHOE_COLORS = (
    "black", "white", "grey", "navy", "purple", "brown", "blue", "red", "beige", "pink", "olive",
    "all black", "tan", "dark grey",
)  # fmt: skip
LEATHER_COLORS = ("black", "brown", "dark brown", "tan", "cognac", "burgundy", "grey")
HOME_COLORS = (
    "grey", "white", "beige", "navy blue", "sage green", "blush pink", "charcoal", "cream", "teal",
    "mustard", "light grey", "black", "terracotta", "ivory",
)  # fmt: skip
TECH_COLORS = ("black", "white", "silver", "space grey", "blue", "red", "rose gold", "green", "midnight blue")
CASE_COLORS = ("clear", "black", "purple", "pink", "navy blue", "red", "mint green", "marble white")
LIP_SHADES = ("ruby red", "nude pink", "berry", "coral", "mauve", "plum", "classic red", "rose", "brick")
NAIL_SHADES = ("cherry red", "baby pink", "lavender", "navy", "glitter gold", "white", "black", "coral")
HAIR_COLORS = (
    "jet black", "natural black", "dark brown", "medium brown", "light brown", "ash blonde",
    "honey blonde", "platinum blonde", "auburn",
)  # fmt: skip
#: Clothing size labels are short forms (xs, xl ...); apparel instructions write them out (conventions.py).
APPAREL_SIZES = ("xs", "small", "medium", "large", "xl", "xxl", "3xl")
MEN_SHOE_SIZES = ("7", "7.5", "8", "8.5", "9", "9.5", "10", "10.5", "11", "12", "13")
WOMEN_SHOE_SIZES = ("5", "5.5", "6", "6.5", "7", "7.5", "8", "8.5", "9", "9.5", "10", "11")
BED_SIZES = ("twin", "full", "queen", "king", "california king")
PILLOW_SIZES = ("16 x 16 inch", "18 x 18 inch", "20 x 20 inch", "22 x 22 inch", "24 x 24 inch")
CURTAIN_SIZES = ("52 x 63 inch", "52 x 84 inch", "52 x 95 inch", "52 x 108 inch")
RUG_SIZES = ("2 x 3 ft", "3 x 5 ft", "4 x 6 ft", "5 x 7 ft", "6 x 9 ft", "8 x 10 ft")
ART_SIZES = ("12 x 16 inch", "16 x 24 inch", "20 x 30 inch", "24 x 36 inch")
CABLE_LENGTHS = ("3 ft", "6 ft", "10 ft", "15 ft")
PACKS = ("1 pack", "2 pack", "3 pack", "4 pack", "6 pack")
PACK_OF = ("pack of 1", "pack of 2", "pack of 3", "pack of 4", "pack of 6", "pack of 12")
FL_OZ = ("2 fl oz", "8 fl oz", "16.9 fl oz", "33.8 fl oz")
OUNCES = ("4 ounce", "8 ounce", "12 ounce", "16 ounce", "24 ounce", "32 ounce")
BOTTLE_SIZES = ("18 oz", "24 oz", "32 oz", "40 oz", "64 oz")
COUNTS = ("12 count", "24 count", "30 count", "60 count", "90 count", "120 count")
PHONE_MODELS = ("iphone 13", "iphone 14", "iphone 14 pro", "iphone 15", "galaxy s23", "galaxy s24", "pixel 8")
COFFEE_FLAVORS = ("medium roast", "dark roast", "french roast", "colombian", "hazelnut", "vanilla", "decaf")
BAR_FLAVORS = ("chocolate peanut butter", "cookies and cream", "chocolate chip", "birthday cake", "salted caramel")
TEA_FLAVORS = ("chamomile", "peppermint", "green tea", "ginger lemon", "hibiscus", "earl grey", "lavender")
JERKY_FLAVORS = ("original", "teriyaki", "peppered", "sweet and spicy", "hickory smoked")
NUT_FLAVORS = ("lightly salted", "unsalted", "honey roasted", "sea salt", "smoked")
SCENTS = ("lavender", "coconut", "unscented", "citrus", "vanilla", "eucalyptus", "rose", "fresh linen")
SWITCHES = ("red switch", "blue switch", "brown switch")
WATCH_BANDS = ("black leather", "brown leather", "silver mesh", "gold mesh", "black silicone")
METALS = ("gold", "silver", "rose gold")
HAIR_LENGTHS = ("14 inch", "16 inch", "18 inch", "20 inch", "22 inch", "24 inch")
STYLES_LAMP = ("modern", "farmhouse", "mid century", "industrial", "boho")

POOLS: dict[str, tuple[str, ...]] = {k.lower(): v for k, v in globals().items() if isinstance(v, tuple) and k.isupper()}


@dataclass(frozen=True)
class OptionSpec:
    """One customization option of a kind: its name, the pool it draws from, and how many values."""

    name: str
    pool: str
    lo: int = 2
    hi: int = 5
    contiguous: bool = False  # sizes: a run of neighbours, not a random subset


@dataclass(frozen=True)
class Kind:
    key: str
    task_type: str
    category: str  # WebShop's own coarse category field
    noun: str  # lowercase, as a shopper would say it ("running shoes")
    plural: bool
    path: str  # category path with "{G}" for the audience ("Men", "Women")
    attrs: tuple[str, ...]
    options: tuple[OptionSpec, ...]
    price: tuple[float, float]
    materials: tuple[str, ...] = ()
    audiences: tuple[str, ...] = ()  # "men", "women", "girls", "boys"; empty = no audience
    use: str = "everyday use"


def _o(name: str, pool: str, lo: int = 2, hi: int = 5, contiguous: bool = False) -> OptionSpec:
    return OptionSpec(name, pool, lo, hi, contiguous)


COLOR_A = _o("color", "apparel_colors", 2, 6)
SIZE_A = _o("size", "apparel_sizes", 3, 6, True)

KINDS: tuple[Kind, ...] = (
    # ---- apparel -----------------------------------------------------------------------------------------
    Kind("tshirt", "apparel", "fashion", "t-shirt", False, "Clothing, Shoes & Jewelry › {G} › Clothing › Shirts › T-Shirts",
         ("short sleeve", "cotton", "crew neck", "machine wash", "relaxed fit", "moisture wicking", "v neck", "soft fabric", "tagless"),
         (COLOR_A, SIZE_A), (9, 29), ("cotton", "cotton blend", "jersey"), ("men", "women"), "casual wear"),
    Kind("hoodie", "apparel", "fashion", "hoodie", False, "Clothing, Shoes & Jewelry › {G} › Clothing › Fashion Hoodies & Sweatshirts",
         ("fleece lined", "pullover", "drawstring hood", "kangaroo pocket", "long sleeve", "machine wash", "zip up", "warm"),
         (COLOR_A, SIZE_A), (22, 59), ("fleece", "cotton blend", "french terry"), ("men", "women"), "cool days"),
    Kind("dress", "apparel", "fashion", "dress", False, "Clothing, Shoes & Jewelry › Women › Clothing › Dresses",
         ("maxi length", "floral print", "short sleeve", "v neck", "a line", "pockets", "wrap style", "flowy", "summer"),
         (COLOR_A, SIZE_A), (19, 69), ("chiffon", "rayon", "cotton"), ("women",), "parties and vacations"),
    Kind("jeans", "apparel", "fashion", "jeans", True, "Clothing, Shoes & Jewelry › {G} › Clothing › Jeans",
         ("slim fit", "stretch denim", "straight leg", "high waist", "button closure", "five pocket", "relaxed fit", "machine wash"),
         (_o("color", "apparel_colors", 2, 4), SIZE_A), (24, 79), ("denim", "stretch denim"), ("men", "women"), "daily wear"),
    Kind("leggings", "apparel", "fashion", "yoga leggings", True, "Clothing, Shoes & Jewelry › Women › Clothing › Active › Leggings",
         ("high waist", "tummy control", "squat proof", "four way stretch", "side pockets", "moisture wicking", "buttery soft"),
         (COLOR_A, SIZE_A), (15, 45), ("nylon spandex", "polyester"), ("women",), "yoga and running"),
    Kind("rain_jacket", "apparel", "fashion", "rain jacket", False, "Clothing, Shoes & Jewelry › {G} › Clothing › Coats, Jackets & Vests › Raincoats",
         ("waterproof", "hooded", "windproof", "lightweight", "packable", "zip pockets", "breathable"),
         (COLOR_A, SIZE_A), (35, 119), ("nylon", "polyester shell"), ("men", "women"), "hiking and travel"),
    Kind("pajama_set", "apparel", "fashion", "pajama set", False, "Clothing, Shoes & Jewelry › {G} › Clothing › Sleep & Lounge › Sets",
         ("long sleeve", "button down", "soft fabric", "elastic waist", "two piece", "short sleeve", "breathable"),
         (COLOR_A, SIZE_A), (19, 49), ("satin", "modal", "flannel"), ("men", "women"), "sleep and lounging"),
    Kind("swim_trunks", "apparel", "fashion", "swim trunks", True, "Clothing, Shoes & Jewelry › Men › Clothing › Swim › Board Shorts",
         ("quick dry", "mesh lining", "elastic waist", "drawstring", "side pockets", "stretch"),
         (COLOR_A, SIZE_A), (14, 39), ("polyester",), ("men",), "beach and pool"),
    Kind("polo_shirt", "apparel", "fashion", "polo shirt", False, "Clothing, Shoes & Jewelry › Men › Clothing › Shirts › Polos",
         ("short sleeve", "moisture wicking", "regular fit", "golf", "button placket", "wrinkle free", "machine wash"),
         (COLOR_A, SIZE_A), (15, 45), ("pique cotton", "polyester"), ("men",), "golf and work"),
    Kind("sweater", "apparel", "fashion", "cardigan sweater", False, "Clothing, Shoes & Jewelry › Women › Clothing › Sweaters › Cardigans",
         ("open front", "long sleeve", "chunky knit", "oversized", "button down", "soft fabric", "pockets"),
         (COLOR_A, SIZE_A), (25, 69), ("acrylic knit", "cotton knit", "wool blend"), ("women",), "fall and winter"),
    # ---- footwear ----------------------------------------------------------------------------------------
    Kind("running_shoes", "footwear", "fashion", "running shoes", True, "Clothing, Shoes & Jewelry › {G} › Shoes › Athletic › Running",
         ("non slip", "rubber sole", "breathable mesh", "lightweight", "memory foam", "arch support", "lace up", "shock absorbing"),
         (_o("color", "shoe_colors", 2, 6), _o("size", "{g}_shoe_sizes", 4, 8, True)), (29, 129), ("mesh", "knit"), ("men", "women"), "running and gym"),
    Kind("sneakers", "footwear", "fashion", "walking sneakers", True, "Clothing, Shoes & Jewelry › {G} › Shoes › Fashion Sneakers",
         ("slip on", "memory foam", "non slip", "lightweight", "wide toe box", "rubber sole", "breathable"),
         (_o("color", "shoe_colors", 2, 6), _o("size", "{g}_shoe_sizes", 4, 8, True)), (25, 89), ("canvas", "knit", "mesh"), ("men", "women"), "walking"),
    Kind("sandals", "footwear", "fashion", "sandals", True, "Clothing, Shoes & Jewelry › {G} › Shoes › Sandals",
         ("arch support", "open toe", "adjustable strap", "cushioned footbed", "non slip", "waterproof", "ankle strap"),
         (_o("color", "shoe_colors", 2, 5), _o("size", "{g}_shoe_sizes", 4, 8, True)), (19, 69), ("leather", "eva foam"), ("men", "women"), "summer"),
    Kind("ankle_boots", "footwear", "fashion", "ankle boots", True, "Clothing, Shoes & Jewelry › Women › Shoes › Boots › Ankle & Bootie",
         ("side zipper", "chunky heel", "faux leather", "pointed toe", "block heel", "non slip", "fur lined"),
         (_o("color", "leather_colors", 2, 5), _o("size", "women_shoe_sizes", 4, 8, True)), (35, 99), ("suede", "faux leather"), ("women",), "fall outfits"),
    Kind("work_boots", "footwear", "fashion", "work boots", True, "Clothing, Shoes & Jewelry › Men › Shoes › Boots › Work & Safety",
         ("steel toe", "waterproof", "slip resistant", "oil resistant", "rubber sole", "lace up", "ankle support"),
         (_o("color", "leather_colors", 2, 4), _o("size", "men_shoe_sizes", 4, 8, True)), (49, 159), ("leather", "full grain leather"), ("men",), "construction work"),
    Kind("slippers", "footwear", "fashion", "house slippers", True, "Clothing, Shoes & Jewelry › {G} › Shoes › Slippers",
         ("memory foam", "fuzzy", "non slip", "indoor outdoor", "plush lining", "machine washable", "warm"),
         (_o("color", "shoe_colors", 2, 5), _o("size", "{g}_shoe_sizes", 3, 6, True)), (12, 39), ("faux fur", "fleece"), ("men", "women"), "home"),
    Kind("loafers", "footwear", "fashion", "loafers", True, "Clothing, Shoes & Jewelry › {G} › Shoes › Loafers & Slip-Ons",
         ("slip on", "genuine leather", "rubber sole", "comfortable", "penny strap", "lightweight"),
         (_o("color", "leather_colors", 2, 4), _o("size", "{g}_shoe_sizes", 4, 8, True)), (35, 110), ("leather", "suede"), ("men", "women"), "office and casual"),
    Kind("pumps", "footwear", "fashion", "high heel pumps", True, "Clothing, Shoes & Jewelry › Women › Shoes › Pumps",
         ("pointed toe", "stiletto heel", "slip on", "padded insole", "patent leather", "comfortable"),
         (_o("color", "leather_colors", 2, 4), _o("size", "women_shoe_sizes", 4, 8, True)), (29, 89), ("patent leather", "suede"), ("women",), "work and parties"),
    Kind("hiking_boots", "footwear", "fashion", "hiking boots", True, "Clothing, Shoes & Jewelry › {G} › Shoes › Outdoor › Hiking",
         ("waterproof", "ankle support", "slip resistant", "breathable", "lace up", "rubber sole", "lightweight"),
         (_o("color", "shoe_colors", 2, 4), _o("size", "{g}_shoe_sizes", 4, 8, True)), (49, 149), ("suede", "nubuck leather"), ("men", "women"), "trails"),
    # ---- accessories -------------------------------------------------------------------------------------
    Kind("backpack", "accessories", "fashion", "laptop backpack", False, "Clothing, Shoes & Jewelry › Luggage & Travel Gear › Backpacks",
         ("water resistant", "usb charging port", "anti theft", "fits 15.6 inch laptop", "padded straps", "large capacity", "lightweight"),
         (_o("color", "tech_colors", 2, 5),), (25, 79), ("polyester", "nylon"), (), "travel and school"),
    Kind("wallet", "accessories", "fashion", "wallet", False, "Clothing, Shoes & Jewelry › Men › Accessories › Wallets, Card Cases & Money Organizers",
         ("rfid blocking", "genuine leather", "slim", "bifold", "id window", "gift box", "minimalist"),
         (_o("color", "leather_colors", 2, 4),), (15, 49), ("leather", "full grain leather"), ("men",), "every day"),
    Kind("sunglasses", "accessories", "fashion", "polarized sunglasses", True, "Clothing, Shoes & Jewelry › {G} › Accessories › Sunglasses & Eyewear Accessories",
         ("polarized", "uv400 protection", "lightweight", "metal frame", "oversized", "retro", "square frame"),
         (_o("color", "tech_colors", 2, 5),), (12, 59), ("metal", "acetate"), ("men", "women"), "driving and beach"),
    Kind("watch", "accessories", "fashion", "analog watch", False, "Clothing, Shoes & Jewelry › {G} › Watches › Wrist Watches",
         ("water resistant", "stainless steel", "quartz movement", "date display", "minimalist", "luminous hands"),
         (_o("color", "watch_bands", 2, 4),), (29, 149), ("stainless steel",), ("men", "women"), "daily wear"),
    Kind("cap", "accessories", "fashion", "baseball cap", False, "Clothing, Shoes & Jewelry › {G} › Accessories › Hats & Caps › Baseball Caps",
         ("adjustable", "cotton", "breathable", "embroidered", "washed", "one size", "sun protection"),
         (_o("color", "apparel_colors", 2, 6),), (9, 25), ("cotton twill",), ("men", "women"), "outdoor"),
    Kind("belt", "accessories", "fashion", "leather belt", False, "Clothing, Shoes & Jewelry › Men › Accessories › Belts",
         ("genuine leather", "ratchet", "adjustable", "alloy buckle", "gift box", "casual"),
         (_o("color", "leather_colors", 2, 4), _o("size", "apparel_sizes", 3, 5, True)), (15, 45), ("leather",), ("men",), "jeans and dress pants"),
    Kind("necklace", "accessories", "fashion", "pendant necklace", False, "Clothing, Shoes & Jewelry › Women › Jewelry › Necklaces › Pendants",
         ("sterling silver", "hypoallergenic", "gift box", "heart shaped", "cubic zirconia", "dainty", "adjustable chain"),
         (_o("color", "metals", 2, 3),), (15, 79), ("sterling silver",), ("women",), "gifts"),
    Kind("tote_bag", "accessories", "fashion", "tote bag", False, "Clothing, Shoes & Jewelry › Women › Handbags & Wallets › Totes",
         ("large capacity", "zipper closure", "faux leather", "shoulder bag", "water resistant", "multiple pockets"),
         (_o("color", "leather_colors", 2, 5),), (19, 69), ("faux leather", "canvas"), ("women",), "work and shopping"),
    Kind("scarf", "accessories", "fashion", "winter scarf", False, "Clothing, Shoes & Jewelry › Women › Accessories › Scarves & Wraps",
         ("soft", "warm", "cashmere feel", "plaid", "oversized", "tassel"),
         (_o("color", "apparel_colors", 2, 6),), (9, 29), ("acrylic",), ("women",), "cold weather"),
    # ---- home decor --------------------------------------------------------------------------------------
    Kind("pillow_covers", "home_decor", "furniture", "throw pillow covers", True, "Home & Kitchen › Home Décor Products › Decorative Pillows, Inserts & Covers › Throw Pillow Covers",
         ("set of 2", "hidden zipper", "velvet", "living room", "soft", "machine washable", "farmhouse"),
         (_o("color", "home_colors", 2, 6), _o("size", "pillow_sizes", 2, 4, True)), (9, 29), ("velvet", "linen", "cotton"), (), "couch and bed"),
    Kind("curtains", "home_decor", "furniture", "blackout curtains", True, "Home & Kitchen › Home Décor Products › Window Treatments › Curtains & Drapes",
         ("thermal insulated", "room darkening", "grommet top", "noise reducing", "bedroom", "set of 2 panels", "machine washable"),
         (_o("color", "home_colors", 2, 6), _o("size", "curtain_sizes", 2, 4, True)), (19, 59), ("polyester",), (), "bedroom and living room"),
    Kind("rug", "home_decor", "furniture", "area rug", False, "Home & Kitchen › Home Décor Products › Rugs, Pads & Protectors › Area Rugs",
         ("non slip", "washable", "low pile", "living room", "easy clean", "boho", "stain resistant"),
         (_o("color", "home_colors", 2, 5), _o("size", "rug_sizes", 3, 5, True)), (29, 199), ("polypropylene", "cotton"), (), "living room and bedroom"),
    Kind("wall_art", "home_decor", "furniture", "canvas wall art", False, "Home & Kitchen › Home Décor Products › Wall Décor › Posters & Prints",
         ("framed", "ready to hang", "abstract", "living room", "landscape", "waterproof ink", "modern"),
         (_o("size", "art_sizes", 2, 4, True),), (19, 99), ("canvas",), (), "living room and office"),
    Kind("table_lamp", "home_decor", "furniture", "table lamp", False, "Tools & Home Improvement › Lighting & Ceiling Fans › Lamps & Shades › Table Lamps",
         ("usb port", "touch control", "dimmable", "bedside", "fabric shade", "bulb included", "3 way"),
         (_o("color", "home_colors", 2, 4), _o("style", "styles_lamp", 2, 3)), (19, 79), ("ceramic", "metal", "wood"), (), "nightstand"),
    Kind("comforter", "home_decor", "furniture", "comforter set", False, "Home & Kitchen › Bedding › Comforters & Sets › Comforter Sets",
         ("all season", "down alternative", "machine washable", "soft microfiber", "lightweight", "hypoallergenic", "pillow shams"),
         (_o("color", "home_colors", 2, 6), _o("size", "bed_sizes", 2, 4, True)), (35, 119), ("microfiber",), (), "bedroom"),
    Kind("shelves", "home_decor", "furniture", "floating shelves", True, "Home & Kitchen › Furniture › Home Office Furniture › Bookcases",
         ("wall mounted", "set of 3", "rustic wood", "easy install", "space saving", "hardware included"),
         (_o("color", "leather_colors", 2, 4),), (19, 59), ("wood", "paulownia wood"), (), "bathroom and kitchen"),
    Kind("ottoman", "home_decor", "furniture", "storage ottoman", False, "Home & Kitchen › Furniture › Living Room Furniture › Ottomans",
         ("foldable", "faux leather", "footrest", "living room", "space saving", "tufted", "easy assembly"),
         (_o("color", "home_colors", 2, 5),), (29, 119), ("faux leather", "linen fabric"), (), "living room"),
    Kind("vase", "home_decor", "furniture", "ceramic vase", False, "Home & Kitchen › Home Décor Products › Vases",
         ("handmade", "boho", "modern", "pampas grass", "living room", "matte finish"),
         (_o("color", "home_colors", 2, 5),), (12, 45), ("ceramic",), (), "shelves and tables"),
    Kind("towels", "home_decor", "furniture", "bath towel set", False, "Home & Kitchen › Bath › Towels › Bath Towels",
         ("highly absorbent", "quick dry", "soft cotton", "6 piece", "hotel quality", "machine washable"),
         (_o("color", "home_colors", 2, 6),), (19, 59), ("cotton", "turkish cotton"), (), "bathroom"),
    Kind("shower_curtain", "home_decor", "furniture", "shower curtain", False, "Home & Kitchen › Bath › Shower Curtains, Hooks & Liners › Shower Curtains",
         ("waterproof", "hooks included", "machine washable", "mildew resistant", "weighted hem", "farmhouse"),
         (_o("color", "home_colors", 2, 5),), (12, 35), ("polyester fabric",), (), "bathroom"),
    # ---- electronics -------------------------------------------------------------------------------------
    Kind("earbuds", "electronics", "electronics", "wireless earbuds", True, "Electronics › Headphones, Earbuds & Accessories › Earbuds",
         ("bluetooth 5.3", "noise cancelling", "charging case", "waterproof", "long battery life", "touch control", "built in microphone"),
         (_o("color", "tech_colors", 2, 4),), (19, 129), (), (), "workouts and calls"),
    Kind("headphones", "electronics", "electronics", "over ear headphones", True, "Electronics › Headphones, Earbuds & Accessories › Headphones › Over-Ear Headphones",
         ("active noise cancelling", "bluetooth", "foldable", "hi-fi sound", "40 hour playtime", "built in microphone", "memory foam ear cups"),
         (_o("color", "tech_colors", 2, 4),), (29, 199), (), (), "travel and home office"),
    Kind("speaker", "electronics", "electronics", "bluetooth speaker", False, "Electronics › Portable Audio & Video › Portable Speakers & Docks › Portable Bluetooth Speakers",
         ("waterproof", "portable", "stereo sound", "deep bass", "24 hour playtime", "wireless"),
         (_o("color", "tech_colors", 2, 5),), (19, 119), (), (), "outdoor parties"),
    Kind("power_bank", "electronics", "electronics", "portable charger", False, "Cell Phones & Accessories › Chargers & Power Adapters › Portable Power Banks",
         ("fast charging", "usb c", "10000mah", "compact", "led display", "dual output"),
         (_o("color", "tech_colors", 2, 4),), (15, 59), (), (), "travel"),
    Kind("usb_cable", "electronics", "electronics", "usb c cable", False, "Electronics › Computers & Accessories › Computer Accessories & Peripherals › Cables & Accessories › Cables",
         ("fast charging", "braided nylon", "usb c to usb c", "60w", "durable", "data sync"),
         (_o("size", "cable_lengths", 2, 4, True), _o("item package quantity", "packs", 2, 4, True)), (6, 19), ("braided nylon",), (), "phones and laptops"),
    Kind("phone_case", "electronics", "electronics", "phone case", False, "Cell Phones & Accessories › Cases, Holsters & Sleeves › Basic Cases",
         ("shockproof", "slim", "wireless charging compatible", "military grade drop protection", "raised edges", "magsafe compatible"),
         (_o("color", "case_colors", 2, 5), _o("size", "phone_models", 2, 4)), (8, 29), ("silicone", "tpu"), (), "everyday protection"),
    Kind("hdmi_cable", "electronics", "electronics", "hdmi cable", False, "Electronics › Television & Video › Accessories › Cables › HDMI Cables",
         ("4k", "high speed", "gold plated", "ethernet", "braided", "8k"),
         (_o("size", "cable_lengths", 2, 4, True),), (6, 25), (), (), "tv and gaming"),
    Kind("mouse", "electronics", "electronics", "wireless mouse", False, "Electronics › Computers & Accessories › Computer Accessories & Peripherals › Keyboards, Mice & Accessories › Mice",
         ("ergonomic", "silent click", "rechargeable", "usb receiver", "adjustable dpi", "bluetooth"),
         (_o("color", "tech_colors", 2, 4),), (9, 39), (), (), "laptop and office"),
    Kind("keyboard", "electronics", "electronics", "mechanical keyboard", False, "Electronics › Computers & Accessories › Computer Accessories & Peripherals › Keyboards, Mice & Accessories › Keyboards",
         ("rgb backlit", "hot swappable", "wired", "compact 60 percent", "anti ghosting", "wireless"),
         (_o("style", "switches", 2, 3), _o("color", "tech_colors", 2, 3)), (29, 119), (), (), "gaming and typing"),
    Kind("camera", "electronics", "electronics", "security camera", False, "Electronics › Camera & Photo › Video Surveillance › Surveillance Cameras",
         ("1080p", "night vision", "motion detection", "two way audio", "wifi", "weatherproof", "cloud storage"),
         (_o("item package quantity", "packs", 2, 3, True),), (25, 129), (), (), "home security"),
    Kind("tv_mount", "electronics", "electronics", "tv wall mount", False, "Electronics › Television & Video › Accessories › TV Mounts, Stands & Turntables › TV Wall & Ceiling Mounts",
         ("full motion", "tilt", "fits 32 to 75 inch tvs", "easy install", "heavy duty", "swivel"),
         (), (19, 89), (), (), "living room"),
    Kind("smart_plug", "electronics", "electronics", "smart plug", False, "Electronics › Home Audio & Theater › Smart Home › Plugs",
         ("works with alexa", "voice control", "timer", "no hub required", "energy monitoring", "compact"),
         (_o("item package quantity", "packs", 2, 4, True),), (9, 39), (), (), "home automation"),
    # ---- beauty & health ---------------------------------------------------------------------------------
    Kind("shampoo", "beauty_health", "beauty", "shampoo", False, "Beauty & Personal Care › Hair Care › Shampoo & Conditioner › Shampoos",
         ("sulfate free", "paraben free", "natural ingredients", "dry hair", "color safe", "argan oil", "hair growth"),
         (_o("size", "fl_oz", 2, 4, True), _o("scent", "scents", 2, 4)), (8, 35), (), (), "damaged hair"),
    Kind("moisturizer", "beauty_health", "beauty", "face moisturizer", False, "Beauty & Personal Care › Skin Care › Face › Creams & Moisturizers",
         ("hyaluronic acid", "dry skin", "fragrance free", "non comedogenic", "spf 30", "cruelty free", "anti aging"),
         (_o("size", "fl_oz", 2, 3, True),), (12, 49), (), (), "daily skin care"),
    Kind("lipstick", "beauty_health", "beauty", "matte lipstick", False, "Beauty & Personal Care › Makeup › Lips › Lipstick",
         ("long lasting", "waterproof", "cruelty free", "moisturizing", "highly pigmented", "vegan"),
         (_o("color", "lip_shades", 3, 6),), (6, 25), (), (), "all day wear"),
    Kind("hair_extensions", "beauty_health", "beauty", "clip in hair extensions", True, "Beauty & Personal Care › Hair Care › Hair Extensions, Wigs & Accessories › Hair Extensions",
         ("natural looking", "human hair", "straight", "easy to apply", "heat resistant", "thick"),
         (_o("color", "hair_colors", 3, 6), _o("size", "hair_lengths", 2, 4, True)), (25, 119), (), (), "volume and length"),
    Kind("nail_polish", "beauty_health", "beauty", "gel nail polish", False, "Beauty & Personal Care › Foot, Hand & Nail Care › Nail Art & Polish › Nail Polish",
         ("long lasting", "quick dry", "high gloss", "non toxic", "chip resistant", "uv led cured"),
         (_o("color", "nail_shades", 3, 6), _o("item package quantity", "packs", 2, 3, True)), (6, 25), (), (), "manicures at home"),
    Kind("toothbrush_heads", "beauty_health", "beauty", "electric toothbrush heads", True, "Health & Household › Oral Care › Toothbrushes & Accessories › Replacement Heads",
         ("soft bristles", "deep clean", "gum care", "compatible with sonicare", "whitening", "bpa free"),
         (_o("item package quantity", "packs", 2, 4, True),), (9, 35), (), (), "oral hygiene"),
    Kind("serum", "beauty_health", "beauty", "vitamin c serum", False, "Beauty & Personal Care › Skin Care › Face › Serums",
         ("hyaluronic acid", "anti aging", "brightening", "dark spots", "cruelty free", "natural ingredients", "paraben free"),
         (_o("size", "fl_oz", 2, 3, True),), (12, 45), (), (), "glowing skin"),
    Kind("brush_set", "beauty_health", "beauty", "makeup brush set", False, "Beauty & Personal Care › Tools & Accessories › Makeup Brushes & Tools › Brush Sets",
         ("synthetic bristles", "travel case", "cruelty free", "soft", "16 piece", "easy clean"),
         (_o("color", "metals", 2, 3),), (9, 35), (), (), "foundation and eyeshadow"),
    Kind("palette", "beauty_health", "beauty", "eyeshadow palette", False, "Beauty & Personal Care › Makeup › Eyes › Eyeshadow",
         ("highly pigmented", "long lasting", "matte and shimmer", "blendable", "cruelty free", "35 colors"),
         (_o("style", "lip_shades", 2, 4),), (9, 39), (), (), "everyday and party looks"),
    Kind("body_wash", "beauty_health", "beauty", "body wash", False, "Beauty & Personal Care › Personal Care › Bath & Bathing Accessories › Bath › Body Washes",
         ("moisturizing", "sulfate free", "natural ingredients", "sensitive skin", "shea butter", "paraben free"),
         (_o("scent", "scents", 2, 5), _o("size", "fl_oz", 2, 3, True)), (6, 29), (), (), "daily showers"),
    Kind("multivitamin", "beauty_health", "beauty", "multivitamin gummies", True, "Health & Household › Vitamins, Minerals & Supplements › Multivitamins",
         ("sugar free", "gluten free", "non gmo", "vegan", "immune support", "for adults"),
         (_o("size", "counts", 2, 4, True),), (9, 39), (), (), "daily health"),
    # ---- other (grocery, sports, pets) -------------------------------------------------------------------
    Kind("coffee", "other", "food", "ground coffee", False, "Grocery & Gourmet Food › Beverages › Coffee, Tea & Cocoa › Coffee › Ground Coffee",
         ("organic", "fair trade", "100% arabica", "low acid", "kosher", "whole bean"),
         (_o("flavor name", "coffee_flavors", 2, 5), _o("size", "ounces", 2, 4, True)), (8, 29), (), (), "morning brewing"),
    Kind("protein_bars", "other", "food", "protein bars", True, "Grocery & Gourmet Food › Snack Foods › Bars › Protein Bars",
         ("gluten free", "high protein", "low sugar", "keto friendly", "non gmo", "individually wrapped"),
         (_o("flavor name", "bar_flavors", 2, 5), _o("size", "counts", 2, 3, True)), (12, 39), (), (), "snacks on the go"),
    Kind("tea", "other", "food", "herbal tea", False, "Grocery & Gourmet Food › Beverages › Coffee, Tea & Cocoa › Tea › Herbal",
         ("caffeine free", "organic", "non gmo", "individually wrapped", "kosher", "natural ingredients"),
         (_o("flavor name", "tea_flavors", 2, 5), _o("size", "counts", 2, 3, True)), (5, 25), (), (), "relaxing evenings"),
    Kind("jerky", "other", "food", "beef jerky", False, "Grocery & Gourmet Food › Snack Foods › Jerky & Dried Meats › Beef Jerky",
         ("high protein", "gluten free", "grass fed", "low fat", "no preservatives", "resealable bag"),
         (_o("flavor name", "jerky_flavors", 2, 4), _o("size", "ounces", 2, 3, True)), (8, 35), (), (), "hiking snacks"),
    Kind("honey", "other", "food", "raw honey", False, "Grocery & Gourmet Food › Pantry Staples › Jams, Jellies & Sweet Spreads › Honey",
         ("raw", "unfiltered", "organic", "non gmo", "gluten free", "kosher"),
         (_o("size", "ounces", 2, 4, True),), (8, 29), (), (), "tea and baking"),
    Kind("nuts", "other", "food", "mixed nuts", True, "Grocery & Gourmet Food › Snack Foods › Nuts & Seeds › Mixed Nuts",
         ("roasted", "no artificial ingredients", "kosher", "resealable", "high protein", "vegan"),
         (_o("flavor name", "nut_flavors", 2, 4), _o("size", "ounces", 2, 3, True)), (8, 29), (), (), "healthy snacking"),
    Kind("yoga_mat", "other", "sports", "yoga mat", False, "Sports & Outdoors › Exercise & Fitness › Yoga › Yoga Mats",
         ("non slip", "extra thick", "carrying strap", "eco friendly", "tpe", "lightweight"),
         (_o("color", "home_colors", 2, 5),), (15, 49), (), (), "yoga and pilates"),
    Kind("dog_toy", "other", "pet supplies", "dog chew toy", False, "Pet Supplies › Dogs › Toys › Chew Toys",
         ("durable", "non toxic", "for aggressive chewers", "natural rubber", "dental care", "squeaky"),
         (_o("size", "apparel_sizes", 2, 3, True),), (7, 25), (), (), "playtime"),
    Kind("water_bottle", "other", "sports", "insulated water bottle", False, "Sports & Outdoors › Outdoor Recreation › Camping & Hiking › Hydration & Filtration › Water Bottles",
         ("stainless steel", "leak proof", "bpa free", "double wall", "keeps cold 24 hours", "wide mouth"),
         (_o("color", "tech_colors", 2, 5), _o("size", "bottle_sizes", 2, 3, True)), (12, 39), (), (), "gym and hiking"),
)  # fmt: skip

KINDS_BY_TYPE: dict[str, tuple[Kind, ...]] = {t: tuple(k for k in KINDS if k.task_type == t) for t in TASK_TYPES}

BRAND_HEADS = (
    "Zar", "Kel", "Mor", "Vin", "Lum", "Tor", "Bex", "Nor", "Quil", "Fen", "Dax", "Ril", "Sol", "Ven",
    "Hal", "Ora", "Pim", "Cal", "Jun", "Wex", "Yar", "Esk", "Gro", "Tam",
)  # fmt: skip
BRAND_TAILS = (
    "vo", "mix", "lane", "ora", "tek", "ly", "ex", "ia", "on", "wood", "field", "ster", "max", "ix", "ura", "en",
)  # fmt: skip

BULLET_TAILS = {
    "apparel": ("comfortable fit for all day wear", "keeps its shape wash after wash", "easy to pair with any outfit"),
    "footwear": ("cushioned for all day comfort", "durable outsole with good grip", "true to size fit"),
    "accessories": ("a thoughtful gift for any occasion", "built to last with quality materials", "stylish and practical"),
    "home_decor": ("adds a cozy touch to any room", "easy to care for", "fits most decor styles"),
    "electronics": ("plug and play setup", "backed by an 18 month warranty", "tested for reliable performance"),
    "beauty_health": ("dermatologist tested", "gentle enough for daily use", "made in a certified facility"),
    "other": ("great for the whole family", "quality you can taste", "packed fresh"),
}

REVIEW_TITLES = {
    5: ("Love it", "Exactly as described", "Would buy again", "Great quality"),
    4: ("Good value", "Pretty good", "Works well", "Nice for the price"),
    3: ("It is okay", "Not bad", "Decent but not great"),
    2: ("Disappointed", "Runs small", "Not as pictured"),
}
REVIEW_BODIES = {
    5: ("Arrived quickly and works perfectly.", "Better than I expected, highly recommend.", "My second one, still happy."),
    4: ("Does the job, minor issues with packaging.", "Good quality overall.", "Nice, though a bit smaller than expected."),
    3: ("Average quality, fine for the price.", "Some things I like, some I do not."),
    2: ("Quality could be better.", "Did not last as long as I hoped."),
}
