"""The amenity vocabulary: what a station offers, as the registry stores it and workers filter.

Drawn from the service lists real stations publish (the trade-union 驿站 standards and the
bank-branch 劳动者港湾 kit of 33–50 "service resources": drinking and hot water, heating meals,
charging phones and e-bikes, toilets, rest, medicine, rain gear, tools, reading …). Each
amenity has a group (how the finder's filter lays them out), a zh-CN and an English label
(what the finder shows), and Chinese synonyms the registry import accepts (`母婴室`, `哺乳室`
and `mother_baby` are one thing). Names are the stored form and never change meaning; new ones
are appended (the cloud's index keeps one bit per amenity in a 64-bit mask whose top bit is
taken, so at most 63).
"""

from __future__ import annotations

from typing import NamedTuple


class Amenity(NamedTuple):
    name: str
    group: str
    zh: str
    en: str
    synonyms: tuple[str, ...] = ()


# Filter groups in display order: key → (zh-CN, en).
GROUPS: dict[str, tuple[str, str]] = {
    "food": ("饮水餐食", "Food and drink"),
    "rest": ("休息", "Rest"),
    "hygiene": ("卫生", "Hygiene"),
    "power": ("充电与修车", "Charging and repairs"),
    "health": ("健康与安全", "Health and safety"),
    "care": ("母婴与关爱", "Family and care"),
    "services": ("便民服务", "Everyday help"),
    "leisure": ("文体娱乐", "Reading and leisure"),
}

# The first nine are the original vocabulary, in their original order (bits 0–8).
VOCABULARY: tuple[Amenity, ...] = (
    Amenity("water", "food", "饮用水", "Drinking water", ("饮水", "直饮水", "净水器", "饮水机")),
    Amenity("microwave", "food", "微波炉", "Microwave", ("热饭", "加热餐食", "餐食加热")),
    Amenity("fridge", "food", "冰箱", "Fridge", ("冷藏柜", "冷藏")),
    Amenity("charging", "power", "手机充电", "Phone charging", ("充电", "充电线", "充电器")),
    Amenity("toilet", "hygiene", "卫生间", "Toilet", ("厕所", "洗手间", "公厕")),
    Amenity("mother_baby", "care", "母婴室", "Mother and baby room", ("哺乳室", "母婴间", "哺乳")),
    Amenity("first_aid", "health", "急救药箱", "First aid kit", ("药箱", "医药箱", "常用药品")),
    Amenity("rest_seats", "rest", "休息座椅", "Rest seats", ("座椅", "桌椅", "休息区")),
    Amenity("air_conditioning", "rest", "空调", "Air conditioning", ("冷暖空调",)),
    Amenity("hot_water", "food", "热水", "Hot water", ("开水", "热水器", "烧水壶")),
    Amenity("dining_area", "food", "就餐区", "Place to eat", ("就餐桌", "用餐区", "餐桌")),
    Amenity("tableware", "food", "餐具", "Cutlery and cups", ("一次性餐具", "纸杯", "水杯")),
    Amenity("heating", "rest", "取暖", "Heating", ("暖气", "取暖器", "电暖器")),
    Amenity("fan", "rest", "电风扇", "Fan", ("风扇",)),
    Amenity("nap_bed", "rest", "午休床", "Nap bed", ("休息床", "折叠床", "躺椅")),
    Amenity("hand_washing", "hygiene", "洗手池", "Hand basin", ("洗手", "洗手台", "洗手液")),
    Amenity("shower", "hygiene", "淋浴", "Shower", ("淋浴间", "洗澡")),
    Amenity(
        "sanitary_products",
        "hygiene",
        "卫生用品",
        "Sanitary products",
        ("卫生巾", "女性用品", "女性关爱用品"),
    ),
    Amenity(
        "ebike_charging",
        "power",
        "电瓶车充电",
        "E-bike charging",
        ("电动车充电", "电单车充电", "电瓶车充电桩"),
    ),
    Amenity("battery_swap", "power", "换电柜", "Battery swap", ("换电", "电池换电", "换电站")),
    Amenity("power_bank", "power", "充电宝", "Power bank", ("共享充电宝", "移动电源")),
    Amenity("tyre_pump", "power", "打气筒", "Tyre pump", ("打气", "充气泵", "气筒")),
    Amenity("repair_tools", "power", "维修工具", "Repair tools", ("工具箱", "修车工具", "维修")),
    Amenity(
        "aed", "health", "AED 除颤仪", "AED (defibrillator)", ("AED", "除颤仪", "自动体外除颤器")
    ),
    Amenity("blood_pressure", "health", "血压计", "Blood pressure meter", ("量血压", "健康检测")),
    Amenity(
        "cooling_supplies",
        "health",
        "防暑降温用品",
        "Heat relief supplies",
        ("防暑用品", "防暑降温", "清凉油", "藿香正气水"),
    ),
    Amenity("fire_extinguisher", "health", "灭火器", "Fire extinguisher", ("消防器材",)),
    Amenity("baby_changing", "care", "婴儿护理台", "Baby changing table", ("尿布台", "护理台")),
    Amenity(
        "accessible", "care", "无障碍设施", "Step-free access", ("无障碍", "无障碍通道", "轮椅")
    ),
    Amenity("reading_glasses", "care", "老花镜", "Reading glasses", ("花镜",)),
    Amenity("wifi", "services", "无线网络", "Wi-Fi", ("WiFi", "免费WiFi", "无线上网", "WLAN")),
    Amenity("umbrella", "services", "雨具", "Umbrella and raincoat", ("雨伞", "爱心雨伞", "雨衣")),
    Amenity("sewing_kit", "services", "针线包", "Sewing kit", ("针线", "缝补")),
    Amenity("lockers", "services", "储物柜", "Lockers", ("寄存", "储物")),
    Amenity("ebike_parking", "services", "电动车停车", "E-bike parking", ("停车", "电动车停放")),
    Amenity("legal_aid", "services", "法律援助", "Legal advice", ("法律咨询", "维权")),
    Amenity("counselling", "services", "心理咨询", "Someone to talk to", ("心理疏导", "心理关爱")),
    Amenity("union_join", "services", "入会服务", "Join the union", ("工会入会", "入会")),
    Amenity("job_info", "services", "就业信息", "Job notices", ("招聘信息", "就业服务")),
    Amenity("books", "leisure", "阅读角", "Reading corner", ("图书", "书籍", "书报", "职工书屋")),
    Amenity("tv", "leisure", "电视", "TV", ("电视机",)),
    Amenity("fitness", "leisure", "健身器材", "Exercise equipment", ("健身", "运动器材")),
)

MAX_AMENITIES = 63  # bit 63 of the index's mask marks maintenance (cloud.stations.index)


def _words() -> dict[str, str]:
    """Every accepted word (name, both labels, synonyms), case-folded, → the amenity's name;
    a word meaning two amenities is a mistake in this table and fails at import."""
    words: dict[str, str] = {}
    for a in VOCABULARY:
        for word in (a.name, a.zh, a.en, *a.synonyms):
            key = word.strip().casefold()
            if words.setdefault(key, a.name) != a.name:
                raise ValueError(f"amenity word {word!r} means both {words[key]} and {a.name}")
    return words


WORDS = _words()
assert len(VOCABULARY) <= MAX_AMENITIES
assert all(a.group in GROUPS for a in VOCABULARY)
