"""Small export fixtures for the loader tests, written as the real tools write them."""

from __future__ import annotations

import io
from pathlib import Path

REES46 = """\
event_time,event_type,product_id,category_id,category_code,brand,price,user_id,user_session
2019-10-01 00:00:00 UTC,view,44600062,2103807459595387724,,shiseido,35.79,541312140,72d76fde-8bb3-4e00-8c23-a032dfed738c
2019-10-01 00:00:05 UTC,view,3900821,2053013552326770905,appliances.environment.water_heater,aqua,33.20,554748717,9333dfbd-b87a-4708-9857-6336556b0fcc
2019-10-01 00:01:00 UTC,cart,3900821,2053013552326770905,appliances.environment.water_heater,aqua,33.20,554748717,9333dfbd-b87a-4708-9857-6336556b0fcc
2019-10-01 00:01:00 UTC,cart,3900821,2053013552326770905,appliances.environment.water_heater,aqua,33.20,554748717,9333dfbd-b87a-4708-9857-6336556b0fcc
2019-10-01 00:02:30 UTC,purchase,3900821,2053013552326770905,appliances.environment.water_heater,aqua,33.20,554748717,9333dfbd-b87a-4708-9857-6336556b0fcc
"""

RETAILROCKET = """\
timestamp,visitorid,event,itemid,transactionid
1433221332117,257597,view,355908,
1433221932117,257597,addtocart,355908,
1433224332117,257597,transaction,355908,4000
1433221000000,992329,view,248676,
"""

TAOBAO = """\
user_id,item_id,category_id,behavior_type,timestamp
1,2268318,2520377,pv,1511544070
1,2333346,2520771,pv,1511544670
1,2333346,2520771,cart,1511546470
1,2333346,2520771,fav,1511546471
2,3333,2520771,buy,1511600000
"""

GA4 = """\
event_date,event_timestamp,event_name,user_pseudo_id,user_id,event_params.ga_session_id,items.item_id,items.item_category,items.item_brand,items.price,items.quantity,ecommerce.transaction_id,device.category,geo.country
20240105,1704456000000000,session_start,111.222,,1704456000,,,,,,,mobile,DE
20240105,1704456000100000,page_view,111.222,,1704456000,,,,,,,mobile,DE
20240105,1704456060000000,view_item,111.222,,1704456000,SKU_1,Shoes,Acme,59.9,,,mobile,DE
20240105,1704456120000000,add_to_cart,111.222,,1704456000,SKU_1,Shoes,Acme,59.9,1,,mobile,DE
20240105,1704456300000000,purchase,111.222,member-7,1704456000,SKU_1,Shoes,Acme,59.9,1,T-1001,mobile,DE
20240105,1704456000000000,page_view,333.444,,1704456000,,,,,,,desktop,FR
"""

MIXPANEL = """\
event,distinct_id,time,$browser,$city,product_id,price
Product Viewed,alice,1704067200,Chrome,Berlin,P1,10.5
Product Added,alice,1704067260,Chrome,Berlin,P1,10.5
Order Completed,alice,1704067500,Chrome,Berlin,,21.0
Product Viewed,bob,1704070800,Safari,Paris,P2,3
"""

AMPLITUDE = """\
event_type,event_time,user_id,device_id,session_id,amplitude_id,country
Product Viewed,2024-01-01 12:00:00.123456,u1,dev-1,1704110400000,901,US
Product Added,2024-01-01 12:01:00.000000,,dev-1,1704110400000,901,US
Checkout Started,2024-01-01 12:02:00.000000,u1,dev-1,1704110400000,901,US
Product Viewed,2024-01-01 12:00:00.000000,u2,dev-2,1704110400000,902,CA
Push Received,2024-01-01 15:00:00.000000,u2,dev-2,-1,902,CA
"""

SEGMENT_JSONL = """\
{"type": "page", "event": null, "name": "Home", "userId": null, "anonymousId": "anon-1", "messageId": "m1", "timestamp": "2024-02-01T10:00:00.000Z", "properties": {"path": "/"}}
{"type": "track", "event": "Product Viewed", "userId": "user-9", "anonymousId": "anon-1", "messageId": "m2", "timestamp": "2024-02-01T10:00:30.000Z", "properties": {"product_id": "SKU-7", "category": "Games", "brand": "Zed", "price": 19.99, "quantity": 1}}
{"type": "track", "event": "Order Completed", "userId": "user-9", "anonymousId": "anon-1", "messageId": "m3", "timestamp": "2024-02-01T11:05:00.000+01:00", "properties": {"order_id": "O-55", "revenue": 19.99}}
"""

ONLINE_RETAIL = """\
InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country
536365,85123A,WHITE HANGING HEART T-LIGHT HOLDER,6,12/1/2010 8:26,2.55,17850.0,United Kingdom
536365,71053,WHITE METAL LANTERN,6,12/1/2010 8:26,3.39,17850.0,United Kingdom
536366,22633,HAND WARMER UNION JACK,6,12/1/2010 8:28,1.85,17850.0,United Kingdom
C536379,D,Discount,-1,12/1/2010 9:41,27.5,14527.0,United Kingdom
536380,22961,JAM MAKING SET PRINTED,24,12/2/2010 9:41,1.45,,United Kingdom
536381,22139,RETROSPOT TEA SET CERAMIC 11 PC,23,12/7/2010 9:41,4.25,15311.0,United Kingdom
"""

PATHLENS = """\
event_time,event_name,user_id,session_id,product_id,category,brand,price,quantity,order_id,device,country,channel
2026-06-14T22:43:31.911Z,page_view,U000001,U000001-S1,,,,,,,desktop,DE,email
2026-06-14T22:44:19.541Z,view_item,U000001,U000001-S1,P00057,electronics.cameras,Sonix,307.97,,,desktop,DE,email
2026-06-14T22:46:00.000Z,add_to_cart,U000001,U000001-S1,P00057,electronics.cameras,Sonix,307.97,1,,desktop,DE,email
2026-06-14T22:50:00.000Z,purchase,U000001,U000001-S1,P00057,electronics.cameras,Sonix,307.97,1,O1,desktop,DE,email
"""


def write(tmp_path: Path, name: str, content: str | bytes, encoding: str = "utf-8") -> Path:
    """Write a fixture file and return its path."""
    path = tmp_path / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode(encoding))
    return path


def upload(content: str | bytes, name: str = "upload.csv") -> io.BytesIO:
    """What Streamlit hands over: a BytesIO with a ``name``."""
    buf = io.BytesIO(content if isinstance(content, bytes) else content.encode("utf-8"))
    buf.name = name
    return buf


# Diginetica (CIKM Cup 2016) train-item-views layout: no event column (every row is an item
# view), user "NA" when anonymous, the time as a day plus milliseconds since the session's
# first query.
ITEM_VIEWS = """\
sessionId;userId;itemId;timeframe;eventdate
1;NA;81766;526309;2016-05-09
1;NA;31331;1031018;2016-05-09
1;NA;32118;243569;2016-05-09
2;NA;9654;75848;2016-05-09
2;NA;33043;1345062;2016-05-09
3;5357;37289;0;2016-05-09
3;5357;37289;103020;2016-05-09
4;5357;8892;41090;2016-05-10
"""

# A bakery's till export ("Transactions from a bakery"): no customer, no event, no quantity;
# one line per unit sold, the date and the time in two columns.
TILL_LINES = """\
Date,Time,Transaction,Item
2016-10-30,09:58:11,1,Bread
2016-10-30,10:05:34,2,Scandinavian
2016-10-30,10:05:34,2,Scandinavian
2016-10-30,10:07:57,3,Hot chocolate
2016-10-30,10:07:57,3,Jam
2016-10-30,10:07:57,3,Cookies
2016-10-30,10:08:41,4,Muffin
2016-10-31,08:01:02,5,Bread
"""
