"""Generate synthetic-records.csv: invented Ontario-style patients, some with several source records.

Every value is drawn from small invented lists and random digits, so no row describes a real person.
The `person` column is the truth. Besides the usual variations between two records of one person
(typos, nicknames, missing values, swapped day and month, a move, a surname changed at marriage),
the file holds the hard non-matches a scorecard must not link: twins, a parent and child with the same
name and address, and spouses sharing an address and phone.

Run:  python -m scoring.data.generate_synthetic   (deterministic: the seed is fixed)
"""

from __future__ import annotations

import csv
import random
from pathlib import Path

GIVEN_F = ["Mary", "Margaret", "Elizabeth", "Patricia", "Jennifer", "Linda", "Susan", "Karen", "Nancy",
           "Sarah", "Emily", "Chloe", "Olivia", "Amelia", "Priya", "Mei", "Fatima", "Aisha", "Sofia", "Lucie"]
GIVEN_M = ["Robert", "William", "James", "John", "Michael", "Richard", "Thomas", "Charles", "Daniel",
           "Matthew", "Anthony", "Joseph", "Andrew", "Liam", "Noah", "Arjun", "Wei", "Omar", "Mateo", "Luc"]
NICK = {"Robert": "Bob", "William": "Bill", "James": "Jim", "Richard": "Dick", "Thomas": "Tom",
        "Charles": "Charlie", "Daniel": "Dan", "Michael": "Mike", "Anthony": "Tony", "Joseph": "Joe",
        "Andrew": "Andy", "Margaret": "Peggy", "Elizabeth": "Liz", "Patricia": "Patty", "Jennifer": "Jenny",
        "Susan": "Sue", "Matthew": "Matt"}
FAMILY = ["Smith", "Brown", "Tremblay", "Martin", "Roy", "Wilson", "MacDonald", "Gagnon", "Johnson", "Taylor",
          "Campbell", "Anderson", "Leblanc", "Lee", "Patel", "Singh", "Nguyen", "Chen", "Wong", "O'Brien",
          "van der Berg", "Fraser", "Morrison", "Kowalski", "Rossi", "Haddad", "Khan", "Boucher", "Girard",
          "Stewart", "Murray", "Reid", "Clarke", "Ferreira", "Santos", "Bianchi", "Novak", "Okafor", "Osei",
          "Mensah", "Kim", "Park", "Ahmed", "Hussain", "Cohen", "Levi", "Schmidt", "Wagner", "Dubois", "Fortin"]
STREETS = ["Main St", "King St W", "Queen St E", "Yonge St", "Bloor St W", "Dundas St", "Maple Ave",
           "Oak Cres", "Elm Dr", "Pine Rd", "Cedar Lane", "Birch Blvd", "Lakeshore Rd", "Church St", "Park Ave"]
CITIES = [("Toronto", "M"), ("Ottawa", "K"), ("Hamilton", "L"), ("London", "N"), ("Sudbury", "P"),
          ("Kingston", "K"), ("Windsor", "N"), ("Barrie", "L"), ("Thunder Bay", "P"), ("Guelph", "N")]
AREA = {"M": "416", "K": "613", "L": "905", "N": "519", "P": "705"}


def luhn_digit(body: str) -> str:
    total = 0
    for i, char in enumerate(reversed(body)):
        d = int(char)
        if i % 2 == 0:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return str((10 - total % 10) % 10)


class Generator:
    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.rows: list[dict[str, str]] = []
        self.next_record = 1

    def health_card(self) -> str:
        body = "".join(self.rng.choice("0123456789") for _ in range(9))
        body = str(self.rng.randint(1, 9)) + body[1:]
        return body + luhn_digit(body)

    def address(self) -> dict[str, str]:
        city, letter = self.rng.choice(CITIES)
        r = self.rng
        postal = f"{letter}{r.randint(1, 9)}{r.choice('ABCEGHJKLMNPRSTVXY')} {r.randint(1, 9)}{r.choice('ABCEGHJKLMNPRSTVWXYZ')}{r.randint(0, 9)}"
        return {"address_line": f"{r.randint(1, 999)} {r.choice(STREETS)}", "city": city, "province": "ON",
                "postal_code": postal, "phone": f"{AREA[letter]}-{r.randint(200, 999)}-{r.randint(0, 9999):04d}"}

    def person(self, *, sex: str | None = None, family: str | None = None, home: dict[str, str] | None = None,
               birth_year: int | None = None, given: str | None = None) -> dict[str, str]:
        r = self.rng
        sex = sex or r.choice("FM")
        year = birth_year or r.randint(1935, 2015)
        return {"given_name": given or r.choice(GIVEN_F if sex == "F" else GIVEN_M),
                "middle_name": r.choice(GIVEN_F if sex == "F" else GIVEN_M) if r.random() < 0.5 else "",
                "family_name": family or r.choice(FAMILY), "sex": sex,
                "birth_date": f"{year}-{r.randint(1, 12):02d}-{r.randint(1, 28):02d}",
                **(home or self.address()), "health_card": self.health_card(),
                "mothers_maiden_name": r.choice(FAMILY) if r.random() < 0.3 else ""}

    def emit(self, person_id: str, person: dict[str, str], copies: int) -> None:
        for i in range(copies):
            row = dict(person) if i == 0 else self.vary(person)
            if self.rng.random() < 0.35:
                row["health_card"] = ""
            if self.rng.random() < 0.25:
                row["phone"] = ""
            self.rows.append({"record_id": f"r{self.next_record:05d}", "person": person_id, **row})
            self.next_record += 1

    def vary(self, p: dict[str, str]) -> dict[str, str]:
        r, row = self.rng, dict(p)
        if r.random() < 0.15:
            row["given_name"] = NICK.get(row["given_name"], row["given_name"])
        for key in ("given_name", "family_name"):
            if r.random() < 0.12:
                row[key] = typo(r, row[key])
        if r.random() < 0.3:
            row["middle_name"] = row["middle_name"][:1]
        y, m, d = row["birth_date"].split("-")
        roll = r.random()
        if roll < 0.04 and int(d) <= 12:
            row["birth_date"] = f"{y}-{d}-{m}"
        elif roll < 0.08:
            row["birth_date"] = f"{y}-{m}-{(int(d) % 28) + 1:02d}"
        if r.random() < 0.12:
            row.update(self.address())  # moved
        if r.random() < 0.05 and p["sex"] == "F":
            row["family_name"] = r.choice(FAMILY)  # married
        if r.random() < 0.03:
            row["given_name"], row["family_name"] = row["family_name"], row["given_name"]
        if row["health_card"] and r.random() < 0.3:
            row["health_card"] += r.choice(["AB", "XZ", "KL"])
        if r.random() < 0.2:
            row["postal_code"] = row["postal_code"].replace(" ", "").lower()
        return row

    def household(self, n: int) -> None:
        r = self.rng
        pid = lambda: f"p{len({row['person'] for row in self.rows}) + 1:05d}"  # noqa: E731
        for _ in range(n):
            roll = r.random()
            if roll < 0.08:  # twins: family, birth date and home shared; given name and card differ
                a = self.person()
                b = self.person(sex=r.choice("FM"), family=a["family_name"],
                                home={k: a[k] for k in ("address_line", "city", "province", "postal_code", "phone")})
                b["birth_date"] = a["birth_date"]
                self.emit(pid(), a, r.choice((1, 2)))
                self.emit(pid(), b, r.choice((1, 2)))
            elif roll < 0.16:  # parent and child with the same name and home
                a = self.person(sex="M", birth_year=r.randint(1940, 1975))
                home = {k: a[k] for k in ("address_line", "city", "province", "postal_code", "phone")}
                b = self.person(sex="M", family=a["family_name"], home=home, given=a["given_name"],
                                birth_year=int(a["birth_date"][:4]) + r.randint(22, 38))
                self.emit(pid(), a, r.choice((1, 2)))
                self.emit(pid(), b, r.choice((1, 2)))
            elif roll < 0.24:  # spouses
                a = self.person(sex="F")
                home = {k: a[k] for k in ("address_line", "city", "province", "postal_code", "phone")}
                b = self.person(sex="M", family=a["family_name"], home=home)
                self.emit(pid(), a, r.choice((1, 2)))
                self.emit(pid(), b, r.choice((1, 2)))
            else:
                self.emit(pid(), self.person(), r.choices((1, 2, 3), weights=(5, 4, 1))[0])


def typo(r: random.Random, value: str) -> str:
    if len(value) < 3:
        return value
    i = r.randrange(1, len(value) - 1)
    kind = r.randrange(3)
    if kind == 0:
        return value[:i] + value[i + 1:]
    if kind == 1:
        return value[:i] + value[i + 1] + value[i] + value[i + 2:]
    return value[:i] + r.choice("aeioulnrst") + value[i + 1:]


def main() -> None:
    gen = Generator(seed=20261128)
    gen.household(700)
    path = Path(__file__).with_name("synthetic-records.csv")
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(gen.rows[0]))
        writer.writeheader()
        writer.writerows(gen.rows)
    print(f"{len(gen.rows)} records of {len({r['person'] for r in gen.rows})} persons -> {path.name}")


if __name__ == "__main__":
    main()
