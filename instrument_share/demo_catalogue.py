"""Demo instruments, defence listings with approvals, clearances and other resources (part of `flask demo seed`).

The published listings have been open for LISTED_DAYS (their listing periods start then), longer than the demo's
services go back, so those services were given while the instruments were open through the platform (measure 19).
"""

import json
from datetime import date, timedelta

from .accounts.models import Organization, User
from .catalogue import listing_periods, search
from .catalogue.models import Clearance, Instrument, Resource
from .core.clock import local_today, now_utc
from .db import db

LISTED_DAYS = 300  # the demo services go back 270 days (demo_ledger.DAYS)
# unit key, name, model, manufacturer, country, value (yuan), category, district, functions, modes, hour fee, sample fee
CIVILIAN = [
    ("nju", "场发射透射电子显微镜", "Talos F200X", "Thermo Fisher Scientific", "美国", 9_800_000, "0101", "栖霞区",
     "材料微观结构表征、高分辨成像、能谱元素分析", "machine_time,sample_testing", 1200, 800),
    ("nju", "X射线光电子能谱仪", "ESCALAB 250Xi", "Thermo Fisher Scientific", "美国", 4_600_000, "0103", "栖霞区",
     "材料表面元素组成及化学态分析", "sample_testing", None, 600),
    ("nju", "600MHz核磁共振波谱仪", "AVANCE NEO 600", "Bruker", "德国", 7_200_000, "0106", "栖霞区",
     "有机化合物结构鉴定、蛋白质结构研究", "machine_time,sample_testing", 800, 300),
    ("seu", "气相色谱-质谱联用仪", "Agilent 7890B-5977B", "Agilent Technologies", "美国", 1_150_000, "0102", "江宁区",
     "挥发性有机物定性定量分析、环境样品检测", "sample_testing,experiment", 350, 260),
    ("seu", "激光共聚焦显微镜", "LSM 980", "Carl Zeiss", "德国", 3_900_000, "0108", "江宁区",
     "细胞成像、活细胞动态观测、三维重构", "machine_time", 500, None),
    ("seu", "万能材料试验机", "Instron 5985", "Instron", "美国", 1_380_000, "0201", "江宁区",
     "金属与复合材料拉伸、压缩、弯曲性能测试", "sample_testing,statutory_testing", None, 200),
    ("keylab", "X射线单晶衍射仪", "D8 VENTURE", "Bruker", "德国", 5_100_000, "0103", "鼓楼区",
     "单晶结构解析、绝对构型测定", "sample_testing", None, 700),
    ("keylab", "综合物性测量系统", "PPMS DynaCool", "Quantum Design", "美国", 6_300_000, "0299", "鼓楼区",
     "低温强磁场下电输运、磁性、比热测量", "machine_time,experiment", 900, None),
    ("institute", "电感耦合等离子体质谱仪", "NexION 2000", "PerkinElmer", "美国", 2_250_000, "0102", "江北新区",
     "痕量及超痕量元素分析、同位素比值测定", "sample_testing", None, 180),
    ("institute", "扫描电子显微镜", "SU5000", "Hitachi", "日本", 2_800_000, "0101", "江北新区",
     "材料形貌观察、断口分析、能谱分析", "machine_time,sample_testing", 450, 300),
    ("institute", "傅里叶变换红外光谱仪", "Nicolet iS50", "Thermo Fisher Scientific", "美国", 680_000, "0104",
     "江北新区", "有机物官能团鉴定、高分子材料成分分析", "sample_testing", None, 120),
    ("institute", "高效液相色谱仪", "1290 Infinity II", "Agilent Technologies", "美国", 520_000, "0105", "江北新区",
     "药物、食品中有机成分分离与定量", "sample_testing", None, 150),
]
# Defence listings: (unit key, name, model, value yuan, category, functions, modes, hour fee, visibility, status)
DEFENCE = [
    ("defence14", "高精度三坐标测量机", "PMM-Xi 12.10.7", 8_600_000, "0301", "精密零部件几何量检测、形位公差评定",
     "machine_time,sample_testing", 600,
     {"name_zh": "public", "category_code": "public", "service_modes": "public", "district": "public",
      "main_functions": "registered", "fee_per_hour_fen": "registered", "model": "cleared",
      "technical_indicators": "cleared", "contact": "cleared"}, "published"),
    ("defence14", "电磁兼容测试系统", "EMC32", 12_500_000, "0402", "电子设备辐射发射与抗扰度测试",
     "sample_testing,experiment", 1500,
     {"name_zh": "public", "category_code": "public", "service_modes": "registered", "fee_per_sample_fen": "cleared",
      "main_functions": "cleared", "owner_id": "registered"}, "published"),
    ("defence55", "环境试验箱（温湿度振动三综合）", "TVH-2000", 3_600_000, "1099", "产品温度、湿度、振动综合环境试验",
     "machine_time", 400, {"name_zh": "public", "category_code": "public", "fee_per_hour_fen": "public",
                           "service_modes": "public", "main_functions": "public", "owner_id": "public"}, "published"),
    ("defence55", "工业CT检测系统", "XT H 450", 9_900_000, "0801", "铸件及复合材料内部缺陷无损检测",
     "sample_testing", 900, None, "draft"),
]
RESOURCES = [
    ("keylab", "national_key_lab", "固体微结构物理国家重点实验室", "national", "凝聚态物理、材料物理、微结构表征"),
    ("institute", "service_agency", "江苏省产业技术研究院科技服务中心", "provincial", "技术转移、检验检测、仪器共享"),
    ("seu", "engineering_centre", "江苏省先进制造工程技术研究中心", "provincial", "精密加工、智能制造工艺"),
    ("nju", "testing_centre", "南京大学现代分析中心", "national", "材料、化学、生命科学大型仪器测试服务"),
]


def seed_catalogue(orgs: dict[str, Organization], users: dict[str, User]) -> int:
    now, today = now_utc(), local_today()
    listed, listed_on = now - timedelta(days=LISTED_DAYS), today - timedelta(days=LISTED_DAYS)
    operators = {"nju": "op_nju", "seu": "op_seu", "keylab": "op_keylab", "institute": "op_jitri",
                 "defence14": "op_cj", "defence55": "op_zj"}
    created: dict[str, list[Instrument]] = {}
    for unit, name, model, maker, country, value, cat, district, functions, modes, hour, sample in CIVILIAN:
        instrument = Instrument(owner=orgs[unit], status="published", name_zh=name, model=model, manufacturer=maker,
                                country=country, original_value_fen=value * 100, category_code=cat,
                                district=district, main_functions=functions, service_modes=modes,
                                fee_per_hour_fen=hour * 100 if hour else None,
                                fee_per_sample_fen=sample * 100 if sample else None,
                                purchase_date=date(2019, 6, 1), location=orgs[unit].name,
                                contact=f"{users[operators[unit]].email}", published_at=listed,
                                created_by_id=users[operators[unit]].id)
        created.setdefault(unit, []).append(instrument)
    for unit, name, model, value, cat, functions, modes, hour, visibility, status in DEFENCE:
        instrument = Instrument(owner=orgs[unit], status=status, name_zh=name, model=model,
                                original_value_fen=value * 100, category_code=cat,
                                district="秦淮区" if unit == "defence14" else "玄武区",
                                main_functions=functions, service_modes=modes, fee_per_hour_fen=hour * 100,
                                fee_per_sample_fen=hour * 50, technical_indicators="测量不确定度等指标见保密协议",
                                contact=users[operators[unit]].email, created_by_id=users[operators[unit]].id)
        if visibility:
            instrument.field_visibility = json.dumps(visibility, sort_keys=True)
            instrument.review_passed_at = instrument.published_at = listed
            instrument.reviewed_by_id = users["secrecy_cj" if unit == "defence14" else "secrecy_zj"].id
            instrument.approval_no = f"苏国防科工〔{listed_on.year}〕{len(created.get(unit, [])) + 11}号"
            instrument.approved_on, instrument.valid_until = listed_on, listed_on + timedelta(days=365)
            instrument.approved_by_id = users["approver_gf"].id
        created.setdefault(unit, []).append(instrument)
    all_instruments = [i for items in created.values() for i in items]
    db.session.add_all(all_instruments)
    db.session.add(Clearance(unit_id=orgs["defence14"].id, organization_id=orgs["sme_chip"].id,
                             agreement_version="2026-01", agreed_on=today, created_by_id=users["op_cj"].id))
    for unit, kind, name, level, work in RESOURCES:
        db.session.add(Resource(kind=kind, name_zh=name, organization=orgs[unit], level=level, fields_of_work=work,
                                services=work, contact=users[operators[unit]].email,
                                instruments=list(created.get(unit, []))))
    db.session.flush()
    for instrument in all_instruments:
        search.reindex(instrument)
    listing_periods.opened(all_instruments, at=listed)
    return len(all_instruments)
