"""The built-in story generator: the offline default corpus.

Stories are assembled from a cast (a hero and a friend with names, kinds and pronouns), a place, a
favourite thing, and one of several plot skeletons (a lost toy, a new friend, a fear overcome,
sharing, a trip, the weather, helping someone, a race, a surprise, learning something new). Every beat
of a plot has several phrasings, so the same skeleton reads differently from story to story.

The vocabulary is kept to the words a small child knows, and the sentences are short and regular, so
that a tiny model can learn the language in minutes. All text here was written for this project.

Everything is driven by one ``random.Random(seed)``: the same seed always yields the same stories, in
the same order, on every platform (``random.Random`` is specified to be reproducible).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from .config import EOT

# --------------------------------------------------------------------------------------------------
# Word lists

GIRL_NAMES = (
    "Lily", "Mia", "Emma", "Sara", "Anna", "Lucy", "Zoe", "Ella", "Amy", "Ruby", "Rose", "Kate", "Maya",
    "Nora", "Ivy", "Molly", "Daisy", "Hannah", "Grace", "Chloe", "Julia", "Tina", "Lola", "Sophie", "Jenny",
    "Nina", "Bella", "Clara", "Alice", "Ava", "Eva", "Luna", "Poppy", "Rosie", "Hazel", "Leah", "Iris",
    "Jade", "Wendy", "Kim", "Amber", "Holly", "Penny", "Sally", "Tess", "Abby", "Fiona", "Gina", "Heidi",
    "Mara", "Olive", "June", "Mila", "Elsa", "Dora",
)
BOY_NAMES = (
    "Tom", "Ben", "Sam", "Max", "Leo", "Jack", "Tim", "Joe", "Finn", "Jake", "Luke", "Noah", "Owen", "Adam",
    "Eli", "Ryan", "Alex", "Oscar", "Felix", "Henry", "Milo", "Theo", "Ollie", "Ted", "Billy", "Danny",
    "Eddie", "Freddy", "Hugo", "Jay", "Kai", "Liam", "Mark", "Nick", "Pete", "Ray", "Seth", "Toby", "Zack",
    "Ivan", "Carl", "Dan", "Gus", "Hank", "Otto", "Rex", "Roy", "Bob", "Jim", "Arlo", "Bruno", "Ned",
)
PET_NAMES = (
    "Pip", "Bubbles", "Coco", "Sunny", "Patch", "Buddy", "Fluffy", "Dot", "Ziggy", "Button", "Pepper",
    "Biscuit", "Socks", "Peanut", "Honey", "Shadow", "Tiny", "Bingo", "Cookie", "Maple", "Pebble",
    "Nibbles", "Whiskers", "Splash", "Bean", "Mango", "Clover", "Sparky", "Snowy", "Toffee", "Hops",
    "Twinkle", "Muffin", "Puddles", "Ginger",
)

GIRL_KINDS = ("girl", "girl", "girl", "little girl", "princess")
BOY_KINDS = ("boy", "boy", "boy", "little boy", "prince")
ANIMAL_KINDS = (
    "bunny", "puppy", "kitten", "bear", "duck", "frog", "bird", "mouse", "fox", "owl", "pig", "turtle",
    "squirrel", "lamb", "cat", "dog", "elephant", "monkey", "hedgehog", "deer", "goat", "hen", "penguin",
    "lion", "tiger", "giraffe", "panda", "koala", "zebra", "hippo",
)

# Adjectives that go before the kind ("a shy bunny") and after "was" ("she was very shy").
TRAITS = (
    "kind", "shy", "brave", "curious", "happy", "silly", "clever", "cheerful", "playful", "gentle",
    "friendly", "smart", "helpful", "busy", "funny", "quiet", "sweet", "bright", "jolly", "careful",
    "polite", "proud", "lively", "eager", "sleepy", "lucky", "tidy", "loud", "honest", "calm",
)
HOBBIES = (
    "to play outside", "to sing songs", "to draw pictures", "to run and jump", "to look at the clouds",
    "to dance", "to build things", "to read books", "to splash in puddles", "to climb trees",
    "to play ball", "to pick flowers", "to count the stars", "to make mud pies", "to hop and skip",
    "to play hide and seek", "to chase butterflies", "to help at home", "to bake with {his} {parent}",
    "to ride {his} bike", "to blow bubbles", "to listen to stories",
)
WHEN = (
    "One day", "One sunny day", "One morning", "One bright morning", "One afternoon", "One warm day",
    "On a sunny afternoon", "Early one morning", "One cool morning", "One day in spring",
    "One summer day", "One fall day", "After lunch one day", "One Saturday",
)
RELATIVES = ("grandma", "grandpa", "mom", "dad", "aunt", "uncle", "big sister", "big brother")
RELATIVE_HE = {"grandma": "she", "grandpa": "he", "mom": "she", "dad": "he", "aunt": "she", "uncle": "he",
               "big sister": "she", "big brother": "he"}


@dataclass(frozen=True)
class Place:
    name: str
    prep: str  # "at", "in" or "on": "at the park", "in the forest", "on the farm"
    sights: tuple[str, ...]
    spots: tuple[str, ...]  # where a lost thing could be hiding
    games: tuple[str, ...]  # things to do there, after "to"/"they"


PLACES = (
    Place("park", "at", ("tall trees", "a big slide", "green grass", "red swings", "a pond with ducks",
                         "kids playing", "a little bridge"),
          ("under the slide", "behind a big tree", "near the swings", "in the sandbox", "under a bench"),
          ("play on the swings", "go down the slide", "run on the grass", "feed the ducks")),
    Place("garden", "in", ("pretty flowers", "tall sunflowers", "busy bees", "red tomatoes", "a little path",
                           "green beans"),
          ("under a big leaf", "behind the flower pots", "near the gate", "in the tall grass",
           "under the bushes"),
          ("water the flowers", "look for bugs", "pick berries", "smell the roses")),
    Place("forest", "in", ("tall trees", "soft moss", "little mushrooms", "singing birds", "a sleepy log",
                           "pine cones"),
          ("under a pile of leaves", "behind an old log", "near a big rock", "inside a hollow tree",
           "under a bush"),
          ("collect pine cones", "listen to the birds", "jump over logs", "look for mushrooms")),
    Place("beach", "at", ("soft sand", "big waves", "shiny shells", "white birds", "a red boat",
                          "little crabs"),
          ("under the sand", "behind a big rock", "near the water", "by the towels", "under a bucket"),
          ("build a sand castle", "look for shells", "splash in the waves", "dig in the sand")),
    Place("farm", "on", ("brown cows", "a red barn", "fluffy sheep", "a big tractor", "little chicks",
                         "a muddy pig"),
          ("in the hay", "behind the barn", "near the fence", "next to the tractor", "by the chicken coop"),
          ("feed the chickens", "pet the sheep", "ride in the wagon", "play in the hay")),
    Place("meadow", "in", ("yellow flowers", "pretty butterflies", "soft grass", "a small stream",
                           "tall grass"),
          ("in the tall grass", "under a bush", "near the stream", "behind a rock", "by an old tree"),
          ("chase butterflies", "roll down the grass", "pick flowers", "look at the clouds")),
    Place("backyard", "in", ("a wooden swing", "a little tree", "a sandbox", "a bird house", "a flower bed"),
          ("under the swing", "behind the shed", "in the sandbox", "near the fence", "under the steps"),
          ("play on the swing", "dig in the sandbox", "blow bubbles", "play catch")),
    Place("pond", "by", ("green lily pads", "little fish", "a family of ducks", "tall reeds", "a jumping frog"),
          ("near the water", "behind a rock", "under a bush", "in the reeds", "by a log"),
          ("watch the fish", "throw little stones", "feed the ducks", "look for frogs")),
    Place("hill", "on", ("the whole town", "white clouds", "a big old tree", "soft green grass"),
          ("behind a rock", "in the grass", "under a bush", "by the big old tree"),
          ("roll down the grass", "fly a kite", "look at the town", "run up and down")),
    Place("playground", "at", ("a tall slide", "a sandbox", "monkey bars", "a seesaw", "a merry-go-round"),
          ("under the seesaw", "behind the slide", "in the sandbox", "near the monkey bars",
           "under a bench"),
          ("play on the seesaw", "swing on the monkey bars", "go down the slide", "play tag")),
)

# (noun, adjectives that suit it, whether it is small enough to sit in a pocket)
ITEMS = (
    ("ball", ("red", "blue", "bouncy", "big", "yellow", "green"), False),
    ("kite", ("red", "blue", "green", "yellow", "rainbow", "orange"), False),
    ("teddy bear", ("brown", "soft", "old", "fluffy", "little"), False),
    ("toy car", ("red", "blue", "fast", "shiny", "little"), True),
    ("hat", ("red", "blue", "green", "yellow", "big", "funny"), False),
    ("doll", ("pretty", "little", "old", "soft"), False),
    ("toy boat", ("red", "little", "blue", "wooden"), False),
    ("scarf", ("red", "blue", "warm", "striped", "purple"), False),
    ("blanket", ("soft", "warm", "blue", "pink", "fuzzy"), False),
    ("drum", ("red", "little", "loud", "shiny"), False),
    ("toy robot", ("silver", "shiny", "little", "funny"), True),
    ("toy train", ("red", "blue", "wooden", "little"), False),
    ("shovel", ("red", "little", "yellow", "orange"), False),
    ("bucket", ("blue", "red", "little", "green"), False),
    ("necklace", ("shiny", "pretty", "blue", "gold"), True),
    ("book", ("big", "old", "new", "funny"), False),
    ("whistle", ("shiny", "silver", "little", "loud"), True),
    ("rock", ("smooth", "shiny", "round", "lucky"), True),
    ("crown", ("shiny", "gold", "little", "sparkly"), False),
    ("bell", ("shiny", "little", "gold", "silver"), True),
    ("ribbon", ("red", "pink", "blue", "yellow"), True),
    ("marble", ("blue", "green", "shiny", "glass"), True),
    ("feather", ("white", "blue", "long", "soft"), True),
    ("balloon", ("red", "blue", "yellow", "big"), False),
    ("umbrella", ("red", "yellow", "spotted", "little"), False),
    ("jump rope", ("pink", "long", "red", "green"), False),
    ("puzzle", ("big", "new", "animal", "wooden"), False),
    ("toy horse", ("brown", "wooden", "little", "white"), False),
    ("spoon", ("silver", "little", "shiny", "wooden"), True),
    ("button", ("big", "shiny", "red", "round"), True),
    ("paint box", ("new", "little", "bright", "big"), False),
    ("flute", ("little", "wooden", "silver", "shiny"), False),
    ("sock", ("striped", "red", "fuzzy", "warm"), True),
    ("toy plane", ("red", "white", "fast", "little"), False),
)
FOODS = (
    "cookies", "apples", "grapes", "cherries", "strawberries", "carrots", "muffins", "crackers", "berries",
    "cupcakes", "cookies", "plums", "bananas", "pretzels", "candies", "peaches", "oranges", "pancakes",
    "blueberries", "nuts", "cheese crackers", "mini muffins", "sugar cookies",
)
SKY = (
    "The sun was warm, and the sky was blue.", "Birds were singing in the trees.", "A soft wind was blowing.",
    "The air smelled sweet.", "Big white clouds moved across the sky.", "It was a perfect day to play.",
    "The sun was shining bright.", "The grass was wet and shiny.", "It was a little cold, but sunny.",
    "Little bugs buzzed in the warm air.",
)
SCENE = (
    "{N} saw {sight1} and smiled.", "{N} liked to look at {sight2}.", "{N} could see {sight1} from there.",
    "Near {him}, {he} could see {sight1}.", "{N} ran past {sight2}.", "{N} stopped to look at {sight1}.",
    "Everything {at_place} looked new and bright.", "{N} loved the {place} very much.",
)
FEEL_GOOD = ("happy", "glad", "proud", "excited", "warm inside")
FEEL_BAD = ("sad", "worried", "upset", "scared", "lonely")


def article(word: str) -> str:
    """'a' or 'an' for the word that follows (enough for this module's vocabulary)."""
    w = word.lower()
    if w.startswith(("uni", "use", "one")):
        return "a"
    return "an" if w[:1] in "aeiou" else "a"


def with_article(phrase: str) -> str:
    return f"{article(phrase)} {phrase}"


def _cap(s: str) -> str:
    if not s:
        return s
    if s[0] == '"':
        return '"' + s[1:2].upper() + s[2:]
    return s[0].upper() + s[1:]


# --------------------------------------------------------------------------------------------------
# The teller: holds the story's random generator and the names a template may use.

class _Teller:
    """Picks phrasings and fills them with the cast of the current story."""

    __slots__ = ("rng", "ctx")

    def __init__(self, rng: random.Random, ctx: dict[str, str]):
        self.rng = rng
        self.ctx = ctx

    def s(self, alts: tuple[str, ...]) -> str:
        """One of the phrasings, filled in, first letter capitalised."""
        return _cap(self.rng.choice(alts).format_map(self.ctx))

    def maybe(self, p: float, alts: tuple[str, ...]) -> list[str]:
        """A sentence with probability p (as a 0- or 1-element list, to splice into a paragraph)."""
        return [self.s(alts)] if self.rng.random() < p else []

    def scene(self) -> list[str]:
        """Zero to two sentences about the day and the place, for texture and length."""
        out = []
        if self.rng.random() < 0.6:
            out.append(self.s(SKY))
        if self.rng.random() < 0.5:
            out.append(self.s(SCENE))
        return out

    def set(self, **kw: str) -> None:
        self.ctx.update(kw)


def _person(rng: random.Random, prefix: str, animal: bool, avoid: str = "") -> dict[str, str]:
    """A named character: kind, name and pronouns, under keys such as N/he/his (hero) or F/fhe (friend)."""
    female = rng.random() < 0.5
    if animal:
        kind = rng.choice(ANIMAL_KINDS)
        pool = PET_NAMES if rng.random() < 0.5 else (GIRL_NAMES if female else BOY_NAMES)
    else:
        kind = rng.choice(GIRL_KINDS if female else BOY_KINDS)
        pool = GIRL_NAMES if female else BOY_NAMES
    name = rng.choice(pool)
    while name == avoid:
        name = rng.choice(pool)
    he, him, his = ("she", "her", "her") if female else ("he", "him", "his")
    trait = rng.choice(TRAITS)
    p = prefix
    return {
        f"{p}N": name, f"{p}he": he, f"{p}He": he.capitalize(), f"{p}him": him, f"{p}his": his,
        f"{p}His": his.capitalize(), f"{p}kind": kind, f"{p}a_kind": with_article(kind),
        f"{p}trait": trait, f"{p}a_trait_kind": with_article(f"{trait} {kind}"),
        f"{p}himself": "herself" if female else "himself",
    }


def _cast(rng: random.Random) -> dict[str, str]:
    """Everything a story's templates may name: hero, friend, parent, place, item, food."""
    hero_animal = rng.random() < 0.45
    ctx = _person(rng, "", hero_animal)
    friend_animal = hero_animal if rng.random() < 0.8 else not hero_animal
    ctx.update(_person(rng, "f", friend_animal, avoid=ctx["N"]))
    # The friend's pronouns are fhe/fhim/fhis...; the name reads better in templates as plain F.
    ctx["F"] = ctx.pop("fN")
    # How the friend is first named: "Pip the bunny", but "his friend Jay" rather than "Jay the boy".
    ctx["Fthe"] = f"{ctx['F']} the {ctx['fkind']}" if friend_animal else f"{ctx['his']} friend {ctx['F']}"
    parent = rng.choice(("mom", "dad", "mom", "dad", "grandma", "grandpa"))
    she = RELATIVE_HE[parent] == "she"
    ctx.update(parent=parent, phe="she" if she else "he", pHe="She" if she else "He",
               phim="her" if she else "him", phis="her" if she else "his")
    place = rng.choice(PLACES)
    sights = rng.sample(place.sights, 2)
    spots = rng.sample(place.spots, 3)
    games = rng.sample(place.games, 2)
    noun, adjs, small = rng.choice(ITEMS)
    item = f"{rng.choice(adjs)} {noun}"
    giver = rng.choice(RELATIVES)
    ctx.update(
        place=place.name, at_place=f"{place.prep} the {place.name}", to_place=f"to the {place.name}",
        sight1=sights[0], sight2=sights[1], spot1=spots[0], spot2=spots[1], spot3=spots[2],
        game=games[0], game2=games[1],
        item=item, a_item=with_article(item), noun=noun, pocket="pocket" if small else "bag",
        giver=giver, ghe=RELATIVE_HE[giver], food=rng.choice(FOODS), when=rng.choice(WHEN),
        good=rng.choice(FEEL_GOOD), bad=rng.choice(FEEL_BAD),
    )
    ctx["hobby"] = rng.choice(HOBBIES).format_map(ctx)
    ctx["look"] = rng.choice(LOOKS)
    return ctx


# --------------------------------------------------------------------------------------------------
# Openings and endings shared by every plot

OPENINGS = (
    "Once upon a time, there was {a_trait_kind} named {N}.",
    "Once upon a time, in a small town, there lived {a_trait_kind} named {N}.",
    "There once was {a_kind} called {N}.",
    "{N} was {a_trait_kind} who loved {hobby}.",
    "Once there was {a_kind} named {N} who was very {trait}.",
    "In a little house near the woods, there lived {a_kind} named {N}.",
    "Long ago, in a green valley, there lived {a_trait_kind} named {N}.",
    "{N} was only {a_kind}, but {he} had a big heart.",
    "Once upon a time, {a_kind} named {N} lived in a cozy little home.",
    "There was once {a_trait_kind}. {His} name was {N}.",
    "{N} was {a_kind}. Everyone knew {him} because {he} was so {trait}.",
    "Not far from here, there lived {a_trait_kind} named {N}.",
    "In a big city full of noise, there lived {a_kind} named {N}.",
    "On a quiet farm, there lived {a_trait_kind} named {N}.",
    "Deep in the green woods, there lived {a_kind} named {N}.",
    "Once upon a time, {N} the {kind} lived by a little river.",
    "Have you ever met {a_trait_kind}? This is a story about one. {His} name was {N}.",
    "{N} was {a_kind} with a {look}.",
)
OPENING_EXTRAS = (
    "{He} loved {hobby}.",
    "{He} liked {hobby} more than anything.",
    "Every day, {he} wanted {hobby}.",
    "{He} lived with {his} {parent} in a small yellow house.",
    "{His} best thing in the world was {hobby}.",
    "{He} always had a big smile on {his} face.",
)
LOOKS = ("big smile", "red hat", "soft voice", "funny laugh", "spotted scarf", "curly tail", "blue coat",
         "pair of yellow boots", "loud voice", "happy little dance")
HOME_LIFE = (
    "Every morning, {N} ate breakfast with {his} {parent}.",
    "Each day, {N} said hello to the birds outside {his} window.",
    "{N} had a little room with a big window and a soft bed.",
    "{His} {parent} read {him} a story every night.",
    "{N} had a loud laugh and quick little feet.",
    "{N} asked a lot of questions, like why the sky is blue.",
    '{N}\'s {parent} liked to call {him} "little sunshine."',
)
REFLECT = (
    "That evening, {N} told {his} {parent} about everything that happened.",
    "{N} thought about the day as the sun went down.",
    '{His} {parent} smiled and said, "What a day!"',
    "At dinner, {N} talked and talked about the day.",
    "When the stars came out, {N} was still smiling.",
)
HOME_CLOSINGS = (
    "It was a good day after all.",
    "And they all lived happily ever after.",
    "{N} would always remember that day.",
    "{N} gave {his} {parent} a big hug.",
)
CLOSINGS = (
    "It was the best day ever.",
    "That night, {N} went to sleep with a big smile.",
    "And they all lived happily ever after.",
    "{N} could not wait to tell {his} {parent} all about it.",
    "{N} felt {good} all the way home.",
    "The sun went down, and everyone was happy.",
    "{N} would always remember that day.",
    "When {N} got home, {he} gave {his} {parent} a big hug.",
)


_EXTRAS_NO_HOBBY = tuple(x for x in OPENING_EXTRAS if "hobby" not in x)


def _opening(t: _Teller) -> list[str]:
    first = t.rng.choice(OPENINGS)
    # Do not say what the hero loves twice in a row.
    extras = _EXTRAS_NO_HOBBY if "{hobby}" in first else OPENING_EXTRAS
    return [_cap(first.format_map(t.ctx)), *t.maybe(0.6, extras), *t.maybe(0.5, HOME_LIFE)]


def _closing(t: _Teller, morals: tuple[str, ...], closings: tuple[str, ...] = CLOSINGS,
             reflect: bool = True) -> str:
    """A plot's moral and/or a general closing line, sometimes after a look back at the day.

    Plots that end at home (or in bed) pass their own ``closings`` and ``reflect=False`` so the
    story does not send the hero home again or to dinner after falling asleep.
    """
    lead = t.s(REFLECT) + " " if reflect and t.rng.random() < 0.4 else ""
    r = t.rng.random()
    if r < 0.4:
        return lead + t.s(morals)
    if r < 0.75:
        return lead + t.s(morals) + " " + t.s(closings)
    return lead + t.s(closings)


# --------------------------------------------------------------------------------------------------
# Plot skeletons. Each returns a list of paragraphs.

def _plot_lost(t: _Teller) -> list[str]:
    p1 = _opening(t) + [t.s((
        "{He} had {a_item} that {he} loved very much.",
        "{His} favorite toy was {a_item}.",
        "{His} {giver} gave {him} {a_item}, and {he} loved it.",
        "{N} had {a_item}. It was a gift from {his} {giver}.",
    ))] + t.maybe(0.5, ("{He} took it everywhere {he} went.", "{He} never went out without it.",
                        "{He} kept it close all day long."))
    p2 = [t.s((
        "{when}, {N} took {his} {noun} {to_place}.",
        "{when}, {N} went {to_place} with {his} {noun}.",
        "{when}, {N} and {his} {parent} walked {to_place}. {N} brought {his} {noun}.",
    )), *t.scene(), t.s((
        "There were {sight1} and {sight2}.",
        "{N} saw {sight1} and {sight2}.",
        "The {place} had {sight1} and {sight2}.",
    )), t.s((
        "{N} put {his} {noun} down to {game}.",
        "{He} wanted to {game}, so {he} left {his} {noun} on the ground.",
        "{N} played and played. Then {he} ran off to {game}.",
    ))]
    p3 = [t.s((
        "When {he} came back, the {noun} was gone!",
        "But when {he} looked back, {his} {noun} was not there!",
        "Later, {N} looked for {his} {noun}, but {he} could not find it.",
    )), t.s((
        '"Oh no! Where is my {noun}?" {N} cried.',
        '"My {noun}! Where did it go?" said {N}.',
        '"I lost my {noun}!" {N} said with a sad face.',
    )), t.s((
        "{N} felt very {bad}.",
        "{His} eyes filled with tears.",
        "{He} sat down and began to cry.",
        "{His} lip shook, and {he} felt {bad}.",
    )), *t.maybe(0.5, ("{N} did not know what to do.", "It felt like the whole day was spoiled.",
                       "Even the {place} did not look pretty anymore."))]
    p4 = [t.s((
        "{He} looked {spot1}. It was not there. {He} looked {spot2}. It was not there either.",
        "{N} looked {spot1} and {spot2}, but the {noun} was not there.",
        "First {he} looked {spot1}. Then {he} looked {spot2}. No {noun}!",
    )), t.s((
        "Just then, {fa_kind} named {F} came by.",
        "Then {Fthe} walked up to {him}.",
        "Soon {fa_trait_kind} named {F} saw {him}.",
    )), t.s((
        '"Why are you sad?" asked {F}.',
        '"What is wrong, {N}?" {F} asked.',
        '"Are you okay?" {F} asked in a soft voice.',
    )), t.s((
        '"I lost my {noun}," said {N}. "I looked everywhere."',
        '"My {item} is gone," said {N}. "I can not find it."',
        '"I can not find my {noun}," {N} said.',
    )), t.s((
        '"Don\'t worry. I will help you look," said {F}.',
        '"Let\'s look together," said {F}. "Two can see more than one."',
        '"I am good at finding things," said {F}. "I will help you."',
    ))]
    ending = t.rng.randrange(4)
    if ending == 0:
        p5 = [t.s((
            "They looked {spot3}. There it was!",
            "{F} looked {spot3} and saw something. It was the {item}!",
            "They went {spot3} together, and there was the {noun}!",
        ))]
    elif ending == 1:
        p5 = [t.s((
            "Then they saw a little puppy. The puppy had the {noun} in its mouth!",
            "Then they heard a bark. A playful puppy was running with the {noun}!",
        )), t.s((
            "The puppy wanted to play. {F} threw a stick, and the puppy dropped the {noun}.",
            '"Can we have it back, please?" asked {N}. The puppy wagged its tail and let it go.',
        ))]
    elif ending == 2:
        p5 = [t.s((
            "They looked up. The {noun} was stuck high in a tree!",
            "Then {F} pointed up. The {noun} was in a tree!",
        )), t.s((
            "{F} found a long stick. {N} held the stick, and the {noun} fell down.",
            "{N} stood on {F}'s back and reached up. {He} got it!",
            "They shook the branch together, and the {noun} fell into {N}'s arms.",
        ))]
    else:
        p5 = [t.s((
            '"Did you look in your {pocket}?" asked {F}. {N} looked. The {noun} was there all along!',
            '{F} smiled. "What is that in your {pocket}?" {N} looked down. It was the {noun}!',
        )), t.s(("{N} laughed. {He} had put it there before {he} played.",
                 '"I forgot I put it there!" said {N}, and they both laughed.'))]
    p5 += [*t.maybe(0.5, ("{N} held the {noun} tight.", "{N} jumped up and down.",
                          "{N} could not stop smiling.")), t.s((
        '"Thank you, {F}!" said {N}. {He} gave {F} a big hug.',
        '{N} was so {good}. "Thank you for helping me," {he} said.',
        '"You are a good friend," {N} told {F}.',
    ))]
    p6 = [_closing(t, (
        "From that day on, {N} kept {his} {noun} close.",
        "{N} learned to take good care of {his} things.",
        "From then on, {N} and {F} were best friends.",
        "{N} learned that friends help when things go wrong.",
    ))]
    return [" ".join(p) for p in (p1, p2, p3, p4, p5, p6)]


def _plot_friend(t: _Teller) -> list[str]:
    p1 = _opening(t) + [t.s((
        "{N} had just moved to a new town. {He} did not know anyone yet.",
        "{N} did not have many friends, and {he} felt lonely.",
        "{N} wanted a friend to play with.",
        "{N} was new in town, and {he} felt a little {bad}.",
    ))]
    p2 = [t.s((
        "{when}, {N} went {to_place}.",
        "{when}, {N}'s {parent} took {him} {to_place}.",
    )), *t.scene(), t.s((
        "{He} saw {fa_kind} sitting all alone.",
        "There, {he} saw {fa_kind} who was playing alone.",
        "{He} saw {fa_trait_kind} under a tree. The {fkind} looked {bad}.",
    )), *t.maybe(0.5, ("{N} felt shy. {His} tummy felt funny.", "{N} wanted to say hello, but {he} was shy.",
                       "{N} took a big breath.")), t.s((
        '{N} walked over and said, "Hi! I am {N}. What is your name?"',
        '"Hello," said {N}. "My name is {N}. Who are you?"',
        '{N} waved and said, "Hi there! I am {N}."',
    )), t.s((
        '"I am {F}," said the {fkind} quietly.',
        '"My name is {F}," the {fkind} said with a small smile.',
        '"I am {F}," said the {fkind}. "I am new here too."',
    ))]
    p3 = [t.s((
        '"Do you want to {game} with me?" asked {N}.',
        '"Let\'s {game} together!" said {N}.',
        '"Would you like to {game}?" {N} asked.',
    )), t.s((
        "{F}'s face lit up. \"Yes, please!\" {fhe} said.",
        '{F} smiled a big smile. "I would love to!"',
        '"Okay!" said {F}, and {fhe} jumped up.',
    )), t.s((
        "They had so much fun together.",
        "They played and laughed all afternoon.",
        "They played until the sun was low.",
    )), *t.maybe(0.6, ('"What do you like to do?" asked {F}. "I love {hobby}," said {N}. "Me too!" said {F}.',
                       '"You are fun," said {F}. "So are you," said {N}, and they both giggled.',
                       '{F} told {N} a funny joke, and {N} laughed so hard {he} fell over.'))]
    problem = t.rng.randrange(3)
    if problem == 0:
        p4 = [t.s((
            "Then {F} wanted to {game2}, but {N} wanted to keep playing.",
            '"Now let\'s {game2}," said {F}. "No, I want to play my game," said {N}.',
        )), t.s((
            "They both felt grumpy. Then {N} had an idea.",
            "They did not talk for a while. Then {N} had a good idea.",
        )), t.s((
            '"Let\'s take turns," said {N}. "First your game, then my game."',
            '"We can do both," said {N}. "Your game first!"',
        )), t.s(("{F} smiled. Taking turns was fun!", "And that is what they did. Both games were fun!"))]
    elif problem == 1:
        p4 = [t.s((
            "Then {F} tripped and fell down. {fHe} hurt {fhis} knee.",
            "Then {F} fell on the ground and began to cry.",
        )), t.s((
            '{N} ran to help. "Are you okay?" {he} asked. {He} helped {F} get up.',
            '{N} held {F}\'s hand. "It will be okay," {he} said softly.',
        )), t.s((
            "Soon {F} felt better, and they played again.",
            "{F} wiped {fhis} tears and smiled. \"Thank you, {N}.\"",
        ))]
    else:
        p4 = [t.s((
            "Then it started to rain. Drip, drop!",
            "Then a cold wind began to blow.",
        )), t.s((
            "{N} and {F} ran under a big tree. They sat close and told each other stories.",
            "They hid under a slide and laughed. Even the rain was fun with a friend.",
        ))]
    if t.rng.random() < 0.65:  # the friend asks, the hero answers
        p5 = [t.s((
            'When it was time to go home, {F} said, "Can we play again tomorrow?"',
            '"Will you come back tomorrow?" asked {F}.',
        )), t.s(('"Yes!" said {N}. "Every day!"', '"Of course," said {N} with a big smile.'))]
    else:
        p5 = [t.s(('Before they went home, {N} said, "You are my new friend!"',
                   '"I am glad I said hello," {N} told {F}.')),
              t.s(("{F} hugged {N}. They were friends now.", '"Me too," said {F}, and smiled.'))]
    p5 += [_closing(t, (
        "From that day on, {N} and {F} were best friends.",
        "{N} learned that saying hello is the first step to a new friend.",
        "{N} was not lonely anymore.",
        "Now {N} had a friend, and every day was more fun.",
    ))]
    return [" ".join(p) for p in (p1, p2, p3, p4, p5)]


# Fears: (what, setup, the brave try, what it turned out to be)
_FEARS = (
    ("the big slide",
     ("The slide {at_place} was very tall.", "At the {place} there was a big, tall slide."),
     ("{N} climbed up, one step at a time. {He} sat at the top and let go. Whoosh!",
      "{N} held on tight and climbed up. Then {he} slid down. Whee!"),
     ("It was so much fun!", "It was fast and fun, not scary at all!")),
    ("the dark",
     ("At night, {N}'s room was very dark.", "When the lights went out, {N} saw big shadows on the wall."),
     ("{N}'s {parent} gave {him} a little light. {N} looked at the shadows. One was a coat, and one was a chair.",
      "{N} got out of bed and turned on the lamp. The big shadow was only {his} teddy bear."),
     ("The dark was not so scary after all.", "There was nothing to fear. It was just {his} room.")),
    ("the water",
     ("{N} did not want to go in the water at the lake.", "The water at the pool looked deep and cold."),
     ("{N} put one foot in. Then two feet. {His} {parent} held {his} hands, and {he} kicked and kicked.",
      "{N} walked in slowly. The water was cool and nice. {He} splashed and laughed."),
     ("{He} could float!", "{He} was swimming!")),
    ("thunder",
     ("One night there was a big storm. Boom! went the thunder.",
      "The sky was dark, and the thunder was very loud."),
     ("{N}'s {parent} sat with {him}. They counted after each flash: one, two, three. Boom!",
      "{N} and {his} {parent} made a fort with blankets and listened to the rain."),
     ("The thunder was just noise from the sky.", "Soon the storm was far away, and {N} was not scared.")),
    ("the big dog next door",
     ("Next door there lived a big, fluffy dog.", "The neighbor had a big dog with a loud bark."),
     ("{N} held out {his} hand slowly. The dog sniffed it and licked {his} fingers.",
      "{N} stood very still. The big dog came close and wagged its tail."),
     ("The dog just wanted a friend!", "The big dog was gentle and kind.")),
    ("climbing the tall tree",
     ("There was a tall tree {at_place}.", "All the big kids climbed the old tree {at_place}."),
     ("{N} put {his} foot on the first branch, then the next one. {He} did not look down.",
      "{Fthe} showed {him} where to put {his} feet. Step by step, {N} went up."),
     ("From the top, {he} could see far away!", "{He} was up high, and the view was beautiful!")),
)


def _plot_fear(t: _Teller) -> list[str]:
    what, setup, brave, turned = t.rng.choice(_FEARS)
    t.set(fear=what)
    p1 = _opening(t) + [t.s((
        "But {N} was afraid of {fear}.",
        "There was one thing {N} was scared of: {fear}.",
        "{N} was brave about many things, but not about {fear}.",
    ))]
    p2 = [t.s(setup), t.s((
        '"I can\'t do it," said {N}. "I am too scared."',
        "{N}'s heart went thump, thump, thump.",
        '"I don\'t like {fear}," {N} said in a small voice.',
    )), t.s((
        '{His} {parent} knelt down. "It is okay to be scared," {phe} said. "Being brave means trying anyway."',
        '{Fthe} said, "I will stay right here with you."',
        '"You can do it," said {his} {parent}. "I believe in you."',
        '"I was scared too, once," said {Fthe}. "Let\'s try together."',
    ))]
    p3 = [*t.maybe(0.5, ("{N}'s legs shook a little.", "{N} wanted to run away.",
                         "{N} looked at {his} {parent}, and {phe} nodded.")), t.s(("{N} took a deep breath.", "{N} closed {his} eyes and counted to three.",
               "{N} thought about being brave.")), t.s(brave), t.s(turned)]
    p4 = [t.s((
        '"I did it!" shouted {N}.',
        '"That was not so bad!" said {N} with a big grin.',
        '"Look at me! I am brave!" {N} said.',
    )), t.s((
        "{N} felt so proud.",
        "Everyone clapped for {N}.",
        "{His} {parent} gave {him} a big hug.",
    )), _closing(t, (
        "{N} learned that being brave is doing something even when you feel scared.",
        "From that day on, {N} was not afraid of {fear}.",
        "Sometimes the things we fear are not so scary after all.",
        "Now {N} could help other friends who were scared too.",
    ))]
    return [" ".join(p) for p in (p1, p2, p3, p4)]


def _plot_share(t: _Teller) -> list[str]:
    toy = t.rng.random() < 0.4
    thing = "{item}" if toy else "{food}"
    t.set(thing=thing.format_map(t.ctx), it="it" if toy else "them", they="it" if toy else "they",
          are="is" if toy else "are")
    p1 = _opening(t) + [t.s((
        "{when}, {N}'s {giver} gave {him} a new {item}." if toy else
        "{when}, {N}'s {parent} gave {him} a big bag of {food}.",
        "{when}, {N} got a new {item}. {He} loved it so much." if toy else
        "{when}, {N} baked {food} with {his} {parent}. They smelled so good.",
    ))]
    p2 = [t.s((
        "{N} went {to_place} with {his} {thing}.",
        "{N} took {his} {thing} {to_place}.",
    )), *t.scene(), t.s((
        "There {he} saw {Fthe}. {F} had nothing to play with." if toy else
        "There {he} saw {Fthe}. {F} looked very hungry.",
        "{Fthe} was sitting alone. {fHe} looked at the {thing} with big eyes.",
    )), t.s((
        '"Can I play with it too?" asked {F}.' if toy else '"Can I have some?" asked {F}.',
        '"Wow," said {F}. "Can I have a turn?"' if toy else '"Those look yummy," said {F} softly.',
    ))]
    if t.rng.random() < 0.6:
        p3 = [t.s((
            '{N} held the {thing} close. "No, {they} {are} mine," {he} said.',
            '"No!" said {N}. "I want {it} all for me."',
        )), t.s((
            "{F} looked down and walked away. {N} did not feel good inside.",
            "{F} was very {bad}. A tear rolled down {fhis} cheek.",
        )), t.s((
            "{N} thought about how {F} felt. {He} remembered a time when no one shared with {him}.",
            "Then {N} had a funny feeling in {his} tummy. Keeping the {thing} was not fun at all.",
        )), t.s((
            '{N} ran after {F}. "Wait! I am sorry. Let\'s share!"',
            '"{F}, come back!" called {N}. "You can have some too."' if not toy else
            '"{F}, come back!" called {N}. "We can take turns."',
        ))]
    else:
        p3 = [t.s((
            '{N} smiled. "Of course! Sharing is fun," {he} said.',
            '"Yes," said {N}. "Let\'s share!"',
            '{N} thought for a moment. Then {he} said, "Here you go!"',
        ))]
    p4 = [t.s((
        "{N} and {F} took turns with the {thing}. First {N}, then {F}." if toy else
        "{N} gave half of the {food} to {F}. They ate them together under a tree.",
        "They played with the {thing} together, and it was twice the fun." if toy else
        "They shared the {food}, one for {N} and one for {F}, until the bag was empty.",
    )), t.s((
        '"Thank you, {N}," said {F}. "You are so kind."',
        '{F} smiled. "This is the best day!"',
        '"You are a good friend," said {F}.',
    )), *t.maybe(0.5, ("Then {F} showed {N} a fun new game, and they played that too.",
                       "The next day, {F} brought something to share with {N}.")), _closing(t, (
        "{N} learned that sharing makes everyone happy.",
        "{N} felt warm inside. Sharing felt better than keeping.",
        "From that day on, {N} always shared with {his} friends.",
        "Things are more fun when you share them with a friend.",
    ))]
    return [" ".join(p) for p in (p1, p2, p3, p4)]


# Trips: (destination, how to go, things to see, things to do)
_TRIPS = (
    ("the beach", ("car", "bus"), ("big blue waves", "shiny shells", "white birds in the sky"),
     ("built a big sand castle", "splashed in the waves", "looked for crabs")),
    ("the zoo", ("car", "bus", "train"), ("a tall giraffe", "a sleepy lion", "funny monkeys", "a big elephant"),
     ("fed the goats", "watched the seals play", "waved at the zebras")),
    ("the farm", ("car", "truck"), ("brown cows", "baby chicks", "a big red barn", "fluffy sheep"),
     ("fed the pigs", "picked apples", "rode on a tractor")),
    ("the lake", ("car", "bus"), ("little boats", "ducks in a row", "tall green trees"),
     ("threw stones in the water", "went out in a small boat", "had a picnic on the grass")),
    ("the mountains", ("train", "car"), ("snow on the top", "tall pine trees", "a little waterfall"),
     ("walked up a path", "drank from a cool stream", "saw a deer")),
    ("{his} {giver}'s house", ("car", "train", "bus"), ("a big garden", "an old cat", "a cozy kitchen"),
     ("baked cookies", "played cards", "read old books")),
    ("the city", ("train", "bus"), ("tall buildings", "busy streets", "a big fountain"),
     ("rode in a red bus", "ate ice cream in the park", "visited a toy shop")),
)


def _plot_trip(t: _Teller) -> list[str]:
    dest, rides, sights, acts = t.rng.choice(_TRIPS)
    s = t.rng.sample(sights, 2)
    a = t.rng.sample(acts, 2)
    t.set(dest=dest.format_map(t.ctx), ride=t.rng.choice(rides), ts1=s[0], ts2=s[1], act1=a[0], act2=a[1])
    p1 = _opening(t) + [t.s((
        '{when}, {N}\'s {parent} said, "Today we are going to {dest}!"',
        "{when}, {N} and {his} {parent} went on a trip to {dest}.",
        "{N} had never been to {dest}. Today was the day!",
    )), t.s((
        "{N} jumped up and down. {He} was so excited.",
        "{N} packed {his} {noun} and a snack.",
        '"Yay!" shouted {N}. {He} ran to get ready.',
    ))]
    p2 = [t.s((
        "They went by {ride}. {N} looked out the window the whole way.",
        "The {ride} ride was long. {N} counted trees and cows.",
        "They rode in the {ride}. {N} sang songs all the way there.",
    )), t.s((
        "At {dest}, {N} saw {ts1} and {ts2}.",
        "When they got there, {N} saw {ts1}. Then {he} saw {ts2}!",
        '"Look!" said {N}. "I see {ts1}!"',
    )), t.s((
        "They {act1}, and then they {act2}.",
        "First they {act1}. After that, they {act2}.",
        "{N} and {his} {parent} {act1}.",
    )), *t.maybe(0.6, ('"This is so much fun!" said {N}.', '"I love it here," said {N}.',
                       "{N} took a picture in {his} mind so {he} would never forget it."))]
    problem = t.rng.randrange(3)
    if problem == 0:
        p3 = [t.s((
            "Then the wind blew {N}'s {noun} away!",
            "Then {N} dropped {his} {noun}, and it rolled away.",
        )), t.s(('"Oh no!" cried {N}.', "{N} felt {bad}.")), t.s((
            "A kind {fkind} named {F} caught it and brought it back.",
            "{His} {parent} ran fast and got it back.",
        )), t.s(('"Thank you!" said {N}.', "{N} hugged it tight."))]
    elif problem == 1:
        p3 = [t.s((
            "After a while, {N} was very tired. {His} feet hurt.",
            "Soon {N} was hot and tired.",
        )), t.s((
            "{His} {parent} carried {him} on {phis} back.",
            "They sat in the shade and ate a snack. Then {N} felt much better.",
        ))]
    else:
        p3 = [t.s((
            "Then {N} looked around. Where was {his} {parent}?",
            "For a moment, {N} could not see {his} {parent}.",
        )), t.s(("{N} felt scared. {He} stood still, just like {he} was taught.",
                 "{N} remembered what to do. {He} stayed in one place.")), t.s((
            "Soon {his} {parent} came running. \"There you are!\" {phe} said, and they hugged.",
            "A kind lady helped {N}, and soon {his} {parent} was there with a big hug.",
        ))]
    p4 = [t.s((
        "When the day was over, they went home.",
        "At the end of the day, they got back in the {ride}.",
        "Soon it was time to go home.",
    )), t.s((
        "{N} fell asleep on the way. {He} dreamed about {dest}.",
        '"Can we come back again?" asked {N}. "Yes," said {his} {parent}.',
        "{N} told {his} {fkind} friend {F} all about the trip.",
    )), _closing(t, (
        "It was a trip {N} would never forget.",
        "{N} learned that trips are full of surprises.",
        "{N} loved {dest}, but {he} loved coming home too.",
        "That night, {N} drew a picture of {ts1}.",
    ))]
    return [" ".join(p) for p in (p1, p2, p3, p4)]


def _plot_weather(t: _Teller) -> list[str]:
    kind = t.rng.randrange(3)
    if kind == 0:  # rain
        p1 = _opening(t) + [t.s((
            "{when}, {N} wanted to go {to_place}. But it was raining.",
            "{when}, {N} looked out the window. Rain was falling, drip, drop, drip.",
        )), t.s(('"I want to play outside," said {N}. {He} felt {bad}.',
                 "{N} pressed {his} nose to the glass and sighed."))]
        p2 = [t.s((
            '{His} {parent} smiled. "Let\'s put on rain boots!" {phe} said.',
            '"Rain can be fun too," said {his} {parent}. "Get your coat!"',
        )), t.s((
            "{N} put on {his} yellow boots and {his} coat.",
            "{N} found {his} boots and a big umbrella.",
        )), t.s((
            "Outside, {he} jumped in every puddle. Splash! Splash!",
            "{He} splashed in the puddles and watched the worms.",
        )), *t.maybe(0.6, ("{Fthe} came out to play too. They made little boats from leaves.",
                           "{F} was outside too, and they raced leaf boats in the water."))]
        p3 = [t.s((
            "Soon the rain stopped, and the sun came out. A big rainbow was in the sky!",
            "Then the clouds went away. {N} saw a rainbow with many colors.",
        )), t.s(('"Wow!" said {N}. "Rain made a rainbow!"', "{N} clapped {his} hands."))]
    elif kind == 1:  # snow
        p1 = _opening(t) + [t.s((
            "{when} in winter, {N} woke up and saw that everything was white.",
            "One winter morning, soft snow was falling outside {N}'s window.",
        )), t.s(('"Snow!" shouted {N}. {He} put on {his} warm hat and mittens.',
                 "{N} was so excited. {He} put on {his} coat and {his} boots."))]
        p2 = [t.s((
            "{N} and {Fthe} made a snowman. They rolled one big ball and one small ball.",
            "Outside, {N} met {Fthe}. \"Let's build a snowman!\" said {F}.",
        )), t.s((
            '"Our snowman needs a nose," said {N}. They found a carrot in the kitchen.',
            "But the snowman had no face. {N} found stones for the eyes and a carrot for the nose.",
        )), t.s((
            "Then the snowman fell over! They laughed and built it again, even bigger.",
            "They gave the snowman a hat. It looked very funny.",
        ))]
        p3 = [t.s((
            "When their hands got cold, they went inside for warm milk.",
            "Later, {N}'s {parent} made hot cocoa. {N} sipped it and smiled.",
        )), t.s(("{N} looked out at the snowman and waved.", "The snowman stood in the yard all week."))]
    else:  # wind
        p1 = _opening(t) + [t.s((
            "{when}, the wind was blowing hard. The trees went swish, swish.",
            "{when}, it was very windy. Leaves flew everywhere.",
        )), t.s(('"It is a good day for a kite," said {N}\'s {parent}.',
                 "{N} had an idea. {He} got {his} old kite."))]
        p2 = [t.s((
            "{N} ran {to_place} with the kite. Up, up it went!",
            "They went {to_place}. {N} let go of the kite, and it flew high in the sky.",
        )), t.s((
            "But then a big gust pulled the string out of {N}'s hand!",
            "Then the wind blew {N}'s hat off, and {he} let go of the string to catch it!",
        )), t.s((
            "The kite landed in a tree. {Fthe} helped {him} get it down.",
            "{N} ran and ran. {Fthe} caught the string just in time!",
        ))]
        p3 = [t.s((
            "They flew the kite together until the wind was calm.",
            "This time, {N} held on tight, and the kite danced in the sky.",
        )), t.s(('"The wind is my friend today," said {N}.', "{N} laughed as {his} hair blew in the wind."))]
    p3.append(_closing(t, (
        "{N} learned that every kind of weather can be fun.",
        "{N} could not wait for the next day like this one.",
        "Even a gray day can turn into a good day.",
    )))
    return [" ".join(p) for p in (p1, p2, p3)]


_HELP = (
    ("a little bird with a hurt wing",
     ("{N} put the bird in a soft box with leaves. {He} gave it water and seeds.",
      "{N} and {his} {parent} made a little bed for the bird and fed it every day."),
     ("After a few days, the bird's wing was better. It flew up and sang a happy song.",
      "Soon the bird could fly again. It flew around {N} three times, as if to say thank you.")),
    ("a kitten stuck up a tree",
     ("{N} called {his} {parent}, who got a ladder and climbed up slowly.",
      "{N} put a bowl of milk under the tree and called softly. Step by step, the kitten came down."),
     ("The kitten purred and rubbed against {N}'s leg.", "The kitten was safe, and it licked {N}'s hand.")),
    ("a lost duckling",
     ("{N} looked all around and heard a quack by the water. It was the mother duck!",
      "{N} walked with the duckling to the pond. There was the mother duck, looking for her baby."),
     ("The duckling ran to its mother. Quack, quack!", "The mother duck flapped her wings. Her baby was home.")),
    ("an old man who dropped his apples",
     ("{N} picked up the apples one by one and put them back in the bag.",
      "{N} ran after the rolling apples and caught every one."),
     ('"Thank you, little one," said the old man. He gave {N} a shiny red apple.',
      'The old man smiled. "You have a kind heart," he said.')),
    ("a friend whose sand castle fell down",
     ("{N} sat down and helped build it again, bigger and better.",
      "{N} brought a bucket of water, and they built a new castle with tall towers."),
     ("The new castle was the best one they had ever made.", "They put a flag on top and cheered.")),
    ("a little ant carrying a big crumb",
     ("{N} got a leaf and gently helped carry the crumb to the ant hill.",
      "{N} made a little bridge with a stick so the ant could get across."),
     ("The ant wiggled its feelers, as if to say thank you.", "Many ants came out to get the crumb. It was a feast!")),
)


def _plot_help(t: _Teller) -> list[str]:
    who, help_, after = t.rng.choice(_HELP)
    t.set(who=who)
    p1 = _opening(t) + [t.s((
        "{N} always tried to help others.",
        "{N} liked to help when someone needed it.",
        "{N}'s {parent} always said, \"Be kind to everyone.\"",
    ))]
    p2 = [t.s((
        "{when}, {N} was walking {to_place}.",
        "{when}, {N} went to {game} {at_place}.",
    )), *t.scene(), t.s((
        "Suddenly, {he} saw {who}.",
        "On the way, {N} found {who}.",
        "Then {N} heard a small sound. It was {who}!",
    )), t.s((
        '"Oh no," said {N}. "I have to help!"',
        '{N} stopped. "Don\'t worry," {he} said. "I will help you."',
        "{N} did not walk away. {He} wanted to help.",
    ))]
    p3 = [*t.maybe(0.5, ('"You will be okay," {N} said softly.', "{N} knelt down slowly and gently.",
                         "{N} thought hard about what to do.")), t.s(help_), *t.maybe(0.5, (
        "{Fthe} saw what {N} was doing and came to help too.",
        "It was hard work, but {N} did not give up.",
    )), t.s(after)]
    p4 = [t.s((
        "{N} felt {good} inside.",
        "{N}'s {parent} said, \"I am so proud of you.\"",
        "{N} smiled all the way home.",
    )), _closing(t, (
        "{N} learned that helping others makes your heart happy.",
        "Being kind is the best thing you can do.",
        "From that day on, {N} looked for ways to help every day.",
        "A small help can make a big difference.",
    ))]
    return [" ".join(p) for p in (p1, p2, p3, p4)]


def _plot_race(t: _Teller) -> list[str]:
    goals = ("the big tree", "the old fence", "the red gate", "the pond", "the top of the hill", "the big rock")
    goal = t.rng.choice([g for g in goals if g != f"the {t.ctx['place']}"])
    t.set(goal=goal)
    twist = t.rng.randrange(3)  # 0: the friend falls, 1: slow and steady wins, 2: the race is forgotten
    p1 = _opening(t) + [t.s((
        "{N} was not very fast, but {he} never gave up.",
        "{N} and {Fthe} liked to race.",
    ) if twist == 1 else (
        "{N} loved to run. {He} was very fast.",
        "{N} was not very fast, but {he} never gave up.",
        "{N} and {Fthe} liked to race.",
    ))]
    p2 = [t.s((
        '{when}, {N} was playing with {Fthe}. "Let\'s race to {goal}!" said {F}.',
        '{when}, {N} and {Fthe} were {at_place}. "I can beat you to {goal}!" said {F}.',
        '{when}, {N} said to {Fthe}, "Who can get to {goal} first?"',
    )), *t.scene(), t.s((
        '"Ready, set, go!" they shouted, and off they ran.',
        '"One, two, three, go!" said {N}. They ran as fast as they could.',
    )), t.s((
        "{F} ran ahead. {N} ran behind, puffing and panting.",
        "They ran side by side past {sight1}.",
        "{N} ran fast, and the wind blew in {his} face.",
    )), *t.maybe(0.5, ("Everyone watched and cheered.", "Their feet went thump, thump, thump on the ground.",
                       "Birds flew up as they ran by."))]
    if twist == 0:
        p3 = [t.s((
            "Then {F} tripped on a rock and fell down.",
            "Suddenly, {F} fell and hurt {fhis} leg.",
        )), t.s((
            "{N} could win the race, but {he} stopped. {He} ran back to help {F}.",
            "{N} did not keep running. {He} went back and held out {his} hand.",
        )), t.s((
            "They walked to {goal} together, slowly, side by side.",
            '"Let\'s finish together," said {N}. They crossed the finish at the same time.',
        ))]
    elif twist == 1:
        p3 = [t.s((
            "{F} was so far ahead that {fhe} sat down to rest under a tree and fell asleep!",
            "{F} stopped to eat some {food} because {fhe} was sure {fhe} would win.",
        )), t.s((
            "{N} kept going, step by step. {He} did not stop.",
            "{N} was slow, but {he} kept on running.",
        )), t.s((
            "{N} got to {goal} first! {F} could not believe it.",
            "When {F} looked up, {N} was already at {goal}!",
        ))]
    else:
        p3 = [t.s((
            "Then {N}'s shoe came off! {He} hopped on one foot.",
            "Then {N} saw a baby bird on the path and stopped so {he} would not step on it.",
        )), t.s((
            "{F} stopped too, and waited for {him}.",
            "{F} turned around and came back to see what was wrong.",
        )), t.s((
            "They laughed so hard that they forgot about the race.",
            "In the end, nobody won, and nobody cared. They were having too much fun.",
        ))]
    p4 = [t.s((
        '"That was fun," said {F}. "Let\'s race again tomorrow!"',
        "{N} and {F} sat on the grass and laughed.",
        '"You are a good friend," said {F}.',
    )), _closing(t, (
        ("{N} learned that being a good friend matters more than winning.",
         "Helping a friend is better than any prize."),
        ("Slow and steady can win the race.", "{N} learned to never give up."),
        ("Winning is fun, but playing together is the best part.",
         "The best part of a race is the friend who runs with you."),
    )[twist])]
    return [" ".join(p) for p in (p1, p2, p3, p4)]


_GIFTS = (("a cake", "bake", "the cake"), ("a card", "make", "the card"), ("a picture", "paint", "the picture"),
          ("flowers", "pick", "the flowers"), ("a necklace of beads", "make", "the necklace"),
          ("cookies", "bake", "the cookies"))


def _plot_surprise(t: _Teller) -> list[str]:
    for_ = t.rng.choice(("parent", "friend", "giver"))
    if for_ == "friend":
        t.set(whom=t.ctx["Fthe"], whom_he=t.ctx["fhe"], whom_him=t.ctx["fhim"])
    else:
        rel = t.ctx[for_]
        t.set(whom=f"{t.ctx['his']} {rel}", whom_he=RELATIVE_HE[rel],
              whom_him="her" if RELATIVE_HE[rel] == "she" else "him")
    gift, verb, the_gift = t.rng.choice(_GIFTS)
    t.set(gift=gift, gverb=verb, the_gift=the_gift, Whom_he=t.ctx["whom_he"].capitalize())
    p1 = _opening(t) + [t.s((
        "{when}, {N} remembered that it was {whom}'s birthday.",
        "Tomorrow was {whom}'s birthday, and {N} wanted to make a surprise.",
        "{N} wanted to surprise {whom}.",
    )), t.s((
        '"I will {gverb} {gift}," {N} said.',
        "{N} had a plan. {He} would {gverb} {gift}.",
        "{He} thought and thought. Then {he} knew: {gift}!",
    )), *t.maybe(0.6, ("{He} wanted it to be very special.", '"Shh, it is a secret," {N} told {his} {parent}.',
                       "{N} got out paper, glue and paint."))]
    problems = {
        "a cake": ("{N} mixed flour, eggs and milk. But the flour went everywhere! {N} was all white.",
                   "{N} laughed, cleaned up, and tried again. This time the cake was perfect."),
        "a card": ("{N} folded the paper, but {his} crayon broke in half.",
                   "So {he} used both halves. Now {he} could draw with two colors at once!"),
        "a picture": ("{N} drew a sun, a house and {whom}. Then the paint spilled on it!",
                      "{N} turned the spill into a big blue lake. It looked even better."),
        "flowers": ("{N} picked red and yellow flowers {at_place}. But a goat ate half of them!",
                    "{N} laughed and picked some more. The goat got some too."),
        "a necklace of beads": ("{N} put beads on a string, but the string broke and beads rolled away.",
                                "{His} {parent} helped {him} find every bead, and they tied a strong knot."),
        "cookies": ("{N} and {his} {parent} baked cookies, but some got too brown.",
                    "{N} put sprinkles on top. Now they looked like little stars."),
    }
    bad, fix = problems[gift]
    p2 = [t.s((bad,)), t.s(('"Oh no!" said {N}.', "{N} almost cried.", "{N} felt {bad} for a moment.")),
          t.s((fix,))]
    p3 = [t.s((
        "{N} hid {the_gift} behind {his} back.",
        "{N} put {the_gift} on the table and waited.",
        "{N} waited by the door with {the_gift}.",
    )), t.s((
        'When {whom} came in, {N} jumped out and shouted, "Surprise!"',
        '"Surprise!" shouted {N} when {whom} opened the door.',
    )), t.s((
        "{whom} was so happy. {Whom_he} gave {N} a big hug.",
        '"Is this for me?" asked {whom}. "Thank you! I love it!"',
        "{whom} smiled so big. {Whom_he} said it was the best gift ever.",
    ))]
    p4 = [_closing(t, (
        "{N} learned that the best gifts come from the heart.",
        "Making someone happy made {N} happy too.",
        "A little surprise can make a big smile.",
        "It was a birthday nobody would forget.",
    ))]
    return [" ".join(p) for p in (p1, p2, p3, p4)]


# Skills: (what, a try that fails, the way it finally works)
_SKILLS = (
    ("ride a bike", ("{He} got on the bike and pushed. The bike wobbled, and {he} fell over.",
                     "{He} pedaled once, twice, and then tipped into the grass."),
     ("{His} {parent} held the seat and ran beside {him}. Then {phe} let go, and {N} kept going!",)),
    ("swim", ("{He} jumped in the water and sank. {He} came up coughing.",
              "{He} kicked {his} legs, but {his} arms did not know what to do."),
     ("{He} kicked and paddled, kicked and paddled. Soon {he} was swimming across the pool!",)),
    ("tie {his} shoes", ("{He} made a loop, but it came apart.", "The laces got all tangled in a big knot."),
     ("{His} {parent} said, \"Make two bunny ears and cross them.\" {N} tried, and it worked!",)),
    ("whistle", ("{He} blew and blew, but only air came out.", "{He} puckered {his} lips, but nothing happened."),
     ("{He} practiced every morning. One day, a little tweet came out!",)),
    ("jump rope", ("{He} jumped too soon, and the rope hit {his} feet.",
                   "The rope got stuck on {his} shoes again and again."),
     ("{He} counted, one, two, jump! One, two, jump! Soon {he} could jump ten times in a row.",)),
    ("fly a kite", ("The kite went up a little, then crashed down.", "The kite spun around and hit the ground."),
     ("{Fthe} said, \"Run with the wind!\" {N} ran, and the kite flew up high.",)),
    ("read a book", ("The words looked like little bugs on the page.", "{He} tried to read, but the letters got mixed up."),
     ("{He} read a little every night with {his} {parent}. One night, {he} read a whole page alone!",)),
)


def _plot_learn(t: _Teller) -> list[str]:
    skill, fails, works = t.rng.choice(_SKILLS)
    t.set(skill=skill.format_map(t.ctx))
    p1 = _opening(t) + [t.s((
        "{N} wanted to learn to {skill}.",
        "{N} really, really wanted to {skill}.",
        "All of {his} friends could {skill}, but {N} could not.",
    ))]
    p2 = [t.s((
        "{when}, {he} tried for the first time.",
        "{when}, {N} said, \"Today I will learn to {skill}!\"",
    )), t.s(fails), *t.maybe(0.5, ("{He} tried again. It did not work.", "{He} tried once more, but it was too hard.")), t.s((
        '"I can\'t do it," said {N}. {He} felt {bad}.',
        "{N} wanted to give up.",
        "{N} tried again, and again, but it did not work.",
    ))]
    p3 = [t.s((
        '{His} {parent} said, "Everyone falls before they fly. Try one more time."',
        '{Fthe} said, "I could not do it at first either. Keep trying!"',
        '"Practice makes it easier," said {his} {parent}.',
    )), t.s((
        "So {N} practiced every day.",
        "The next day, {N} tried again. And the next day too.",
        "{N} did not give up.",
    )), t.s(works)]
    p4 = [t.s((
        '"I did it! I can {skill}!" shouted {N}.',
        '"Look at me!" said {N}. Everyone cheered.',
    )), t.s(("{N} felt so proud.", "{His} {parent} clapped and clapped.", "{Fthe} gave {him} a high five.")),
        _closing(t, (
            "{N} learned that practice helps you grow.",
            "If you keep trying, you can do hard things.",
            "{N} never forgot how good it felt to not give up.",
            "Now {N} wants to learn something new every day.",
        ))]
    return [" ".join(p) for p in (p1, p2, p3, p4)]


# Plants: (what grows from the seed, what it looks like at the end)
_PLANTS = (
    ("a sunflower", "It was taller than {N}, with a big yellow face that looked at the sun."),
    ("a pumpkin", "It grew round and orange, the biggest pumpkin {N} had ever seen."),
    ("a tomato plant", "It was full of little red tomatoes, sweet and warm from the sun."),
    ("a bean plant", "It climbed up a stick, higher and higher, with long green beans."),
    ("a rose", "It had soft red petals and smelled so sweet."),
    ("a carrot", "{N} pulled, and out came a long orange carrot!"),
    ("a strawberry plant", "It had little white flowers, and then juicy red strawberries."),
)


def _plot_grow(t: _Teller) -> list[str]:
    plant, end = t.rng.choice(_PLANTS)
    t.set(plant=plant, Plant=plant.capitalize())
    p1 = _opening(t) + [t.s((
        "{when}, {N}'s {giver} gave {him} a tiny seed.",
        "{when}, {N} found a little seed in a paper bag.",
        "{when}, {N} and {his} {parent} went to the store and got a packet of seeds.",
    )), t.s((
        '"If you take care of it, it will grow into {plant}," said {N}\'s {parent}.',
        '"What will it be?" asked {N}. "{Plant}," said {his} {parent} with a wink.',
        "The picture on the bag showed {plant}.",
    ))]
    p2 = [t.s((
        "{N} dug a little hole in the garden and put the seed inside.",
        "{N} put some dirt in a pot by the window and pushed the seed in.",
    )), t.s((
        "{He} gave it water every morning.",
        "Every day, {N} gave the seed a little drink of water.",
        "{He} sang to it so it would not feel alone.",
    )), t.s((
        "But nothing happened. {N} looked and looked, but {he} only saw dirt.",
        "One day went by, then two, then three. Still nothing!",
        "The next day, {N} ran to look. There was nothing there yet.",
    )), t.s((
        '"Why is it not growing?" {N} asked. {He} felt {bad}.',
        '"Maybe my seed is broken," said {N} sadly.',
        '"Grow, seed, grow!" said {N}. But the seed did not listen.',
    ))]
    p3 = [t.s((
        '"Seeds need time," said {his} {parent}. "Good things take time."',
        '{Fthe} said, "Be patient. The seed is busy under the dirt."',
        '"Keep helping it," said {his} {parent}. "Water and sun, and a lot of waiting."',
    )), t.s((
        "So {N} waited. {He} gave it water and let the sun shine on it.",
        "{N} tried to be patient. It was hard, but {he} did it.",
    )), *t.maybe(0.5, ("Some days it rained, and {N} did not need to water it.",
                       "A little worm wiggled by, and {N} said hello.")), t.s((
        "Then one morning, {N} saw a tiny green leaf!",
        "One day, a little green shoot popped out of the dirt.",
    )), t.s(('"It is growing!" shouted {N}.', "{N} clapped and danced around the pot.",
             "{N} called {his} {parent} to come and see."))]
    p4 = [t.s(("Day by day, the plant got bigger.", "The plant grew and grew all summer.")), t.s((end,)),
          _closing(t, (
              "{N} learned that good things take time.",
              "{N} was proud, because {he} had helped it grow.",
              "Now {N} wanted to plant a whole garden.",
              "Being patient was hard, but it was worth it.",
          ))]
    return [" ".join(p) for p in (p1, p2, p3, p4)]


_BREAKABLES = ("vase", "cup", "lamp", "bowl", "plate", "jar", "clock", "mug")


def _plot_honest(t: _Teller) -> list[str]:
    thing = t.rng.choice(_BREAKABLES)
    color = t.rng.choice(("blue", "white", "red", "green", "yellow", "old"))
    t.set(thing=thing, color=color, a_color_thing=with_article(f"{color} {thing}"))
    p1 = _opening(t) + [t.s((
        "{N}'s {parent} had a pretty {color} {thing}. {He} was told not to play near it.",
        "On a shelf in the kitchen, there was a special {color} {thing}. It was very old.",
        "In the living room, there was {a_color_thing} that {N}'s {parent} loved.",
    ))]
    p2 = [t.s((
        "{when}, {N} was playing with {his} {noun} in the house.",
        "{when}, {N} was running and jumping inside.",
        "{when}, {N} and {Fthe} were playing a game inside.",
    )), t.s((
        "Bump! {N} hit the shelf. The {thing} fell down and broke into pieces.",
        "Crash! The {thing} fell to the floor and broke.",
        "{N} tripped, and the {thing} tipped over. Crack!",
    )), t.s((
        "{N} looked at the pieces. {His} heart beat fast.",
        "{N} froze. {He} felt very {bad}.",
        '"Oh no," whispered {N}. "What did I do?"',
    ))]
    p3 = [t.s((
        "{N} wanted to hide the pieces under the rug.",
        "{N} thought, \"Maybe nobody will know.\"",
        "For a moment, {N} wanted to say the cat did it.",
    )), t.s((
        "But that did not feel right.",
        "But a little voice inside said, \"Tell the truth.\"",
        "But {N} knew that hiding things is not the way.",
    )), t.s((
        '{He} went to {his} {parent}. "I broke the {thing}," {he} said. "I am sorry."',
        '{N} took a deep breath and told {his} {parent} everything. "It was me. I am sorry."',
    ))]
    p4 = [t.s((
        '{His} {parent} hugged {him}. "Thank you for telling me the truth," {phe} said.',
        '{His} {parent} was sad about the {thing}, but {phe} smiled. "I am proud of you for being honest."',
    )), t.s((
        "Together they glued the pieces back. The {thing} had lines on it now, but it was still pretty.",
        '"Things can break," said {his} {parent}. "What matters is that you were honest."',
        "They cleaned up the pieces together, very carefully.",
    )), _closing(t, (
        "{N} learned that telling the truth is always the right thing to do.",
        "From then on, {N} played outside, not near the shelf.",
        "{N} felt light and happy, because {he} had been honest.",
        "Being honest can be hard, but it makes you feel good inside.",
    ), HOME_CLOSINGS)]
    return [" ".join(p) for p in (p1, p2, p3, p4)]


def _plot_sleep(t: _Teller) -> list[str]:
    p1 = _opening(t) + [t.s((
        "One night, {N} could not fall asleep.",
        "It was bedtime, but {N} was not sleepy at all.",
        "{N} lay in bed with {his} {noun}, but {his} eyes stayed wide open.",
    ))]
    p2 = [t.s((
        "{He} rolled to the left. {He} rolled to the right. {He} counted sheep, but it did not help.",
        "{He} looked at the ceiling and thought about the day.",
        "Outside, the wind went whoo, whoo. Inside, {N} turned and turned.",
    )), t.s((
        "Then {he} saw a soft light at the window. It was the moon!",
        "{He} got up and looked out the window. The sky was full of stars.",
    )), t.s((
        '"Hello, moon," whispered {N}. The moon was big and round and bright.',
        "{N} counted the stars: one, two, three, four, five. There were so many!",
        "An owl sat on a branch and said, \"Hoo, hoo! Why are you awake?\"",
    ))]
    p3 = [t.s((
        '"I can\'t sleep," said {N}.',
        "{N} yawned a tiny yawn, but {he} was still awake.",
    )), t.s((
        "{His} {parent} came in and sat on the bed. {pHe} sang a quiet song.",
        "{His} {parent} brought {him} a cup of warm milk and told {him} a story about the stars.",
        "{His} {parent} tucked the blanket around {him} and said, \"Close your eyes and think of happy things.\"",
    )), t.s((
        "{N} thought about how much {he} loved {hobby}.",
        "{N} thought about sunny days {at_place}.",
        "{N} held {his} {noun} close and listened to the quiet night.",
    ))]
    p4 = [t.s((
        "Slowly, {his} eyes got heavy.",
        "Soon {N} felt warm and cozy.",
        "{N}'s eyes closed, little by little.",
    )), t.s((
        '"Good night, moon," {he} whispered, and {he} fell asleep.',
        "Soon {he} was fast asleep, dreaming of {sight1}.",
        "{N} fell asleep with a smile on {his} face.",
    )), _closing(t, (
        "The moon watched over {him} all night long.",
        "In the morning, {N} woke up happy and ready to play.",
        "Even the night is friendly when you know how to look at it.",
    ), ("The stars twinkled, and the house was quiet.", "And that was the end of a long, happy day."),
        reflect=False)]
    return [" ".join(p) for p in (p1, p2, p3, p4)]


# (the magic thing, its noun, what it did, the same verb in the present, how the hero used it)
_MAGIC = (
    ("a shiny stone", "stone", "glowed", "glow", "rubbed"),
    ("an old wand", "wand", "sparkled", "sparkle", "waved"),
    ("a golden shell", "shell", "hummed", "hum", "held"),
    ("a tiny silver key", "key", "twinkled", "twinkle", "turned"),
    ("a blue feather", "feather", "shimmered", "shimmer", "waved"),
)
# (the wish, what happens, how it goes wrong or turns out)
_WISHES = (
    ("I wish for a mountain of {food}!", "{food} fell from the sky, more and more, until the whole {place} was covered.",
     '"Too many!" laughed {N}. "I wish to share them with everyone." And all the friends came to eat.'),
    ("I wish I could fly!", "{N}'s feet left the ground. {He} flew over the trees like a bird.",
     "{He} waved at the birds. When {he} got tired, {he} floated down softly, happy to be home."),
    ("I wish I was very big!", "{N} grew and grew until {he} was taller than a house.",
     '"Now I can\'t play with my friends," said {N}. "I wish to be me again." And {he} was.'),
    ("I wish my {noun} could talk!", 'The {noun} opened its eyes and said, "Hello, {N}! Let\'s play!"',
     "They talked and played all day. At night the {noun} whispered, \"Thank you,\" and was quiet again."),
    ("I wish it would snow!", "Soft white snow began to fall, even though it was summer.",
     "{N} and {Fthe} made a snowman in the sun. Then the snow melted, and they laughed."),
)


def _plot_magic(t: _Teller) -> list[str]:
    thing, noun, glowed, glow, used = t.rng.choice(_MAGIC)
    wish, happens, after = t.rng.choice(_WISHES)
    t.set(magic=thing, magic_noun=noun, glowed=glowed, glow=glow, used=used)
    p1 = _opening(t) + [t.s((
        "{when}, {N} was playing {at_place} when {he} found {magic}.",
        "{when}, {N} saw something under a bush {at_place}. It was {magic}!",
        "{when}, {N}'s {giver} gave {him} {magic}. \"It is special,\" {ghe} said with a smile.",
    ))]
    p2 = [t.s((
        "When {N} {used} it, it {glowed}.",
        "{N} {used} it, and it {glowed} in {his} hand.",
    )), t.s((
        'A tiny voice said, "You may make one wish."',
        '"Make a wish," said a soft voice from inside.',
        "{N} had heard that some things can make wishes come true.",
    )), t.s((
        "{N} thought and thought.",
        "{N} did not know what to wish for at first.",
        "{N}'s eyes got very big.",
    )), t.s((f'"{wish}" said {{N}}.',)), t.s((happens,))]
    p3 = [t.s(("{N} could not believe it.", '"Wow!" said {N}.', "{N} laughed and laughed.")),
          t.s((after,)), *t.maybe(0.5, ("Then the magic was gone, just like that.",
                                       "After that, the {magic_noun} did not {glow} again."))]
    p4 = [_closing(t, (
        "{N} learned that the best magic is a happy heart.",
        "{N} kept {magic} in a box, just in case.",
        "{N} never forgot the day of the magic wish.",
        "Sometimes, the world is full of surprises.",
    ))]
    return [" ".join(p) for p in (p1, p2, p3, p4)]


_PETS = ("puppy", "kitten", "bunny", "fish", "turtle", "bird", "hamster")


def _plot_pet(t: _Teller) -> list[str]:
    pet = t.rng.choice(_PETS)
    pet_name = t.rng.choice(PET_NAMES)
    while pet_name in (t.ctx["N"], t.ctx["F"]):
        pet_name = t.rng.choice(PET_NAMES)
    t.set(pet=pet, P=pet_name)
    p1 = _opening(t) + [t.s((
        "More than anything, {N} wanted a pet.",
        "{N} always asked {his} {parent} for a pet {pet}.",
        "{N} dreamed of having a pet {pet} of {his} own.",
    ))]
    p2 = [t.s((
        '{when}, {his} {parent} came home with a little box. "Open it," {phe} said.',
        "{when}, there was a little basket by the door with a bow on top.",
    )), t.s((
        "Inside was a tiny {pet}!",
        "Inside, a little {pet} looked up at {N}.",
    )), t.s((
        '"I will call you {P}," said {N}.',
        '{N} named the {pet} {P}.',
        '"Hello, {P}," said {N} softly. "I am your new friend."',
    )), t.s((
        '"A pet is a big job," said {his} {parent}. "You have to feed {P} and take care of {P} every day."',
        '"Pets need love and care," said {his} {parent}. "Can you do that?" "Yes!" said {N}.',
    ))]
    p3 = [t.s((
        "At first, {N} fed {P} every morning and played with {P} every afternoon.",
        "Every day, {N} gave {P} food and fresh water.",
    )), t.s((
        "But one day, {N} wanted to {game} with {Fthe} and forgot all about {P}.",
        "Then one day, {N} was so busy playing that {he} forgot to feed {P}.",
    )), t.s((
        "When {N} came home, {P} looked hungry and sad.",
        "That night, {P} did not want to play. {P} was hungry.",
    )), t.s((
        '{N} felt bad. "I am sorry, {P}," {he} said, and gave {P} a big dinner.',
        '"Oh, {P}, I forgot you!" said {N}. {He} got food right away.',
    ))]
    p4 = [t.s((
        "From then on, {N} never forgot. {He} made a little chart to remember.",
        "After that, {N} fed {P} first thing, before anything else.",
    )), t.s((
        "{P} grew big and happy, and followed {N} everywhere.",
        "{P} and {N} became the best of friends.",
    )), _closing(t, (
        "{N} learned that taking care of someone is a big job, and a happy one.",
        "A pet is a friend who needs you every day.",
        "Love means taking care, even when you are busy.",
    ), HOME_CLOSINGS)]
    return [" ".join(p) for p in (p1, p2, p3, p4)]


PLOTS: dict[str, Callable[[_Teller], list[str]]] = {
    "lost item": _plot_lost,
    "new friend": _plot_friend,
    "fear overcome": _plot_fear,
    "sharing": _plot_share,
    "trip": _plot_trip,
    "weather": _plot_weather,
    "helping": _plot_help,
    "race": _plot_race,
    "surprise": _plot_surprise,
    "learning": _plot_learn,
    "growing": _plot_grow,
    "honesty": _plot_honest,
    "bedtime": _plot_sleep,
    "magic wish": _plot_magic,
    "new pet": _plot_pet,
}
_PLOT_FUNCS = tuple(PLOTS.values())


# --------------------------------------------------------------------------------------------------
# Public API

def generate_story(rng: random.Random) -> str:
    """One story drawn with ``rng``: paragraphs separated by single newlines, no trailing newline."""
    t = _Teller(rng, _cast(rng))
    plot = rng.choice(_PLOT_FUNCS)
    return "\n".join(plot(t))


def generate_stories(seed: int = 1337) -> Iterator[str]:
    """An endless, deterministic stream of stories: the same seed always gives the same sequence."""
    rng = random.Random(seed)
    while True:
        yield generate_story(rng)


def stories_text(seed: int, n_bytes: int) -> str:
    """At least ``n_bytes`` (UTF-8) of whole stories in corpus format: each story, then a line ``<|endoftext|>``.

    The result may run past ``n_bytes`` by the rest of the last story; the stories are ASCII, so
    characters and bytes are the same count.
    """
    parts: list[str] = []
    size = 0
    suffix = f"\n{EOT}\n"
    for story in generate_stories(seed):
        if size >= n_bytes:
            break
        chunk = story + suffix
        parts.append(chunk)
        size += len(chunk)
    return "".join(parts)
