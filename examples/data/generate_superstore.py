"""Generates examples/data/superstore.csv: retail orders in the shape of the well-known
"Sample Superstore" dataset (order, date, ship mode, segment, region, state, category,
sub-category, sales, quantity, discount, profit). Deterministic: the same file every run.

    python3 examples/data/generate_superstore.py [ROWS] > examples/data/superstore.csv
"""

import random
import sys
from datetime import date, timedelta

REGIONS = {
    "West": ["California", "Washington", "Oregon", "Arizona"],
    "East": ["New York", "Pennsylvania", "Ohio", "Massachusetts"],
    "Central": ["Texas", "Illinois", "Michigan", "Indiana"],
    "South": ["Florida", "Georgia", "Virginia", "Tennessee"],
}
CATEGORIES = {
    "Furniture": ["Chairs", "Tables", "Bookcases", "Furnishings"],
    "Office Supplies": ["Binders", "Paper", "Storage", "Art"],
    "Technology": ["Phones", "Machines", "Accessories", "Copiers"],
}
SEGMENTS = ["Consumer", "Corporate", "Home Office"]
SHIP_MODES = ["Standard Class", "Second Class", "First Class", "Same Day"]


def main() -> None:
    rows = int(sys.argv[1]) if len(sys.argv) > 1 else 400
    rnd = random.Random(20261122)
    print("order_id,order_date,ship_mode,segment,region,state,category,sub_category,sales,quantity,discount,profit")
    start = date(2024, 1, 1)
    for i in range(rows):
        region = rnd.choice(list(REGIONS))
        category = rnd.choice(list(CATEGORIES))
        quantity = rnd.randint(1, 9)
        price = round(rnd.uniform(2, 400), 2)
        discount = rnd.choice([0, 0, 0, 0.1, 0.2, 0.3])
        sales = round(price * quantity * (1 - discount), 2)
        profit = round(sales * rnd.uniform(-0.2, 0.35), 2)
        print(
            f"CA-{2024 + i // 200}-{100000 + i},{start + timedelta(days=rnd.randint(0, 729))},"
            f"{rnd.choice(SHIP_MODES)},{rnd.choice(SEGMENTS)},{region},{rnd.choice(REGIONS[region])},"
            f"{category},{rnd.choice(CATEGORIES[category])},{sales},{quantity},{discount},{profit}"
        )


if __name__ == "__main__":
    main()
