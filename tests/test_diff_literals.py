"""Differential tests: list/tuple/set/dict displays with unpacking, constants of every kind
(numbers, tricky strings and bytes, long constants), f-strings, format specs, %-formatting and
str.format.

PYTEST_DONT_REWRITE: pytest must not rewrite this module, so the functions keep their bytecode.

Some string constants below contain raw characters on purpose (U+2028, U+2029, U+0085, form
feed, vertical tab, tab, and a zero-width joiner): a code generator that splits source text with
str.splitlines() or copies it into comments will trip on them.
"""
import collections.abc

from difftest import LOG, check, fresh, note

NAN = float("nan")


# --- displays -------------------------------------------------------------------------------

def list_display(a, b):
    return [*a, 1, *b], [*a], [], [[*a]]


def gen_ab():
    yield "a"
    yield "b"


def test_list_display_with_star_unpacking(backend):
    check(list_display, ([1, 2], (3,)), ("ab", {"k": 1}), ({3, 1}, range(2)),
          (fresh(gen_ab), fresh(lambda: iter([9]))), ([], []), (5, []), ([], None),
          backend=backend)


def tuple_display(a):
    return (*a, 1), (*a,), (), (a,), ((*a, *a),)


def test_tuple_display_with_star_unpacking(backend):
    check(tuple_display, ([1, 2],), ("xy",), ({"k": 1},), ((),), (3,), backend=backend)


def set_display(a):
    return {*a, 1}, {1, True, 1.0}, {0, False, 0.0, -0.0}, {(1, 2), (1, 2)}, set()


def test_set_display_dedup_and_errors(backend):
    check(set_display, ([2, 3],), ("ab",), ([True],), ([[1]],), (None,), backend=backend)


def set_display_order(log):
    return sorted({note(log, "a", 1), note(log, "b", 2), *note(log, "star", [3])})


def test_set_display_evaluation_order(backend):
    check(set_display_order, (LOG,), backend=backend)


class KeysMapping(collections.abc.Mapping):
    def __init__(self, log, data):
        self.log, self.data = log, data

    def keys(self):
        self.log.append("keys")
        return list(self.data)

    def __getitem__(self, key):
        self.log.append(("getitem", key))
        return self.data[key]

    def __iter__(self):
        return iter(self.data)

    def __len__(self):
        return len(self.data)


def dict_display(a, b):
    return {**a, "k": 1, **b}, {1: "a", True: "b", 1.0: "c"}, {"x": 1, "x": 2}, {}


def test_dict_display_unpacking_and_duplicate_keys(backend):
    check(dict_display, ({"a": 1}, {"k": 2}), ({"k": 0}, {}), ({}, {1: 2}),
          (fresh(lambda: KeysMapping([], {"m": 1})), {}), ([1], {}), ({}, [("a", 1)]),
          ({}, None), backend=backend)


def dict_display_order(log):
    d = {note(log, "k1", "a"): note(log, "v1", 1), note(log, "k2", "b"): note(log, "v2", 2),
         **note(log, "rest", {"c": 3})}
    c = {note(log, ("ck", i), i): note(log, ("cv", i), -i) for i in range(2)}
    return d, c


def test_dict_display_evaluation_order(backend):
    check(dict_display_order, (LOG,), backend=backend)


def nested_literals(x):
    return {"a": [1, {2: (3, x)}], "b": {x, 1}, "c": [[], [[]], ({},)], x: (x, [x])}


def test_nested_literals(backend):
    check(nested_literals, (0,), ("s",), ((1, 2),), ([1],), backend=backend)


# --- constants --------------------------------------------------------------------------------

def zeros_and_ones():
    return (0.0, -0.0, 0, False, 0j, -0j, 1, 1.0, True, 1j, (0.0,), (-0.0,), ((0, 0.0), (0.0, 0)),
            (), "", b"", None, ..., NotImplemented)


def test_constants_equal_but_distinct_are_kept_apart(backend):
    check(zeros_and_ones, (), backend=backend)


def numeric_literals():
    return (0x7FFFFFFFFFFFFFFF, 0x8000000000000000, 0xFFFFFFFFFFFFFFFF, 2**64, -2**63, -2**63 - 1,
            123456789012345678901234567890, -123456789012345678901234567890, 1e308, 1e309, -1e309,
            1e-320, 5e-324, 0.1, 0.30000000000000004, 1.7976931348623157e308,
            2.2250738585072014e-308, 1_000_000, 0o777, 0b1010, 1e16, 123.456e-7, 3.14j, 1e309j,
            2**1000)


def test_numeric_literals_extremes(backend):
    check(numeric_literals, (), backend=backend)


def membership_constants(x):
    return x in [1, 2, 3], x in {1.5, "a", None}, x in (b"x", ()), x not in frozenset({0})


def test_folded_tuple_and_frozenset_constants(backend):
    check(membership_constants, (1,), (1.5,), ("a",), (None,), ((),), (0,), (False,), ([],),
          backend=backend)


def string_constants():
    return (
        'single \' quote', "double \" quote", '''triple ''' + """triple "quoted" \"\"\" """,
        '"""', "'''", "\\", "ends with a backslash \\", "\\n is not a newline", "\\x00",
        "\0", "nul \x00 inside", "\x01\x02\x1b\x1f\x7f\x80\x9f", "\r\n", "\r", "\n\n", "\t\v\f",
        "\a\b", "é", "e\u0301", "\N{GREEK SMALL LETTER PI}", "\U0001F600", "\U0010FFFF",
        "\ud800", "\udfff", "\ud83d\ude00", "\ufeff", "\u202e", "\u2028\u2029\x85",
        "{", "}", "{}", "{{}}", "{0}", "%", "%s", "%%", "%(x)s", "*/", "/*", "//", "#",
        "# not a comment", "??=", "??/", "??'", "<!-- -->", "$x", "`", "@", "\\u0041",
        "🐍 snake", "π变量naïve", "", " ", "a" * 3, "ab" * 2000, "raw: [ ] [ ] [] [] [] [	] [‍] end",
    )


def test_string_constants_with_every_awkward_character(backend):
    check(string_constants, (), backend=backend)


def raw_and_bytes_constants():
    return (r"\d+\s*\\", r"\N{not an escape}", rb"\x00", b"\x00\xff", b"'\"", b"\\", b"\r\n",
            b"%s{}%%", b"??=", b"*/", b"\x00\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a\x0b\x0c\x0d\x0e\x0f\x10\x11\x12\x13\x14\x15\x16\x17\x18\x19\x1a\x1b\x1c\x1d\x1e\x1f\x20\x21\x22\x23\x24\x25\x26\x27\x28\x29\x2a\x2b\x2c\x2d\x2e\x2f\x30\x31\x32\x33\x34\x35\x36\x37\x38\x39\x3a\x3b\x3c\x3d\x3e\x3f\x40\x41\x42\x43\x44\x45\x46\x47\x48\x49\x4a\x4b\x4c\x4d\x4e\x4f\x50\x51\x52\x53\x54\x55\x56\x57\x58\x59\x5a\x5b\x5c\x5d\x5e\x5f\x60\x61\x62\x63\x64\x65\x66\x67\x68\x69\x6a\x6b\x6c\x6d\x6e\x6f\x70\x71\x72\x73\x74\x75\x76\x77\x78\x79\x7a\x7b\x7c\x7d\x7e\x7f\x80\x81\x82\x83\x84\x85\x86\x87\x88\x89\x8a\x8b\x8c\x8d\x8e\x8f\x90\x91\x92\x93\x94\x95\x96\x97\x98\x99\x9a\x9b\x9c\x9d\x9e\x9f\xa0\xa1\xa2\xa3\xa4\xa5\xa6\xa7\xa8\xa9\xaa\xab\xac\xad\xae\xaf\xb0\xb1\xb2\xb3\xb4\xb5\xb6\xb7\xb8\xb9\xba\xbb\xbc\xbd\xbe\xbf\xc0\xc1\xc2\xc3\xc4\xc5\xc6\xc7\xc8\xc9\xca\xcb\xcc\xcd\xce\xcf\xd0\xd1\xd2\xd3\xd4\xd5\xd6\xd7\xd8\xd9\xda\xdb\xdc\xdd\xde\xdf\xe0\xe1\xe2\xe3\xe4\xe5\xe6\xe7\xe8\xe9\xea\xeb\xec\xed\xee\xef\xf0\xf1\xf2\xf3\xf4\xf5\xf6\xf7\xf8\xf9\xfa\xfb\xfc\xfd\xfe\xff",
            bytearray(b"\x00mutable"), b"a" * 5000)


def test_bytes_and_raw_constants(backend):
    check(raw_and_bytes_constants, (), backend=backend)


def long_constants():
    text = (
        '%Bhaf\'0c57fg%wpbb\\bw42D2Cjfl8h€aFE\tpe5HCe16fF0cr"Ie4tD€wrp4mC\tG5bFeavj'
        '8D5ykde0EkeInjbw%hGj5tCc r5\'clrjt€j%éCcJy}wEv0"CDc\\D😀"1\tkB9%G"Bsrh%l A'
        '%hGgééEy""5q4mwg77\'k0rj€é9u\\\\B9efznds\'coFéf\\7utCe0q€e7Amgzm8\t\tCFp"\'x€n'
        'F\t7 l0ntd"wHjE%IDviid2kjéHe8uka56d3f}\\jncAz{un"6y😀rH3tAu6J€jéHf}qr z€J'
        'rGh7yrnt8é0zdw\téBo%EkytaeDztAé6"Dlz3Dks0x41wnkGJC\'5D5b\'\\9C5\'gbx\\Dei\t0v'
        'w}}st660vJsJmF"{reH71nvFvuCrf}G00Ih"pqxi😀bzc5cn5juGwAFe€}tq7E0owFf4\'b6'
        "0v😀JokDE66i\tH22ejHép7kF}F7%z€éui8IJH21€Bcxex}é6 \tc12euo2'mwG7%y0EdbB'f"
        'ésAvjE6}4p7\\b😀{w0x le3bn%mé12I9jFi6q4{d1Cx19xsz %xosau0rhH1c😀nHJ0xHlus'
        'xér874lCk\taH7 pmBré😀9lw{0"€ GE}10D"DFB99\'{x2g86G€zé0ig\\DEgHIi\'%qp7evzs'
        "8GwzI€m1D66CuBGgH'Cfeml1vlyr7mqbk5u1gcd'6qAuvt0A8J6kyzas11sé8u€2pjé€m2"
        'B1B F€vGr\'\tAzq6JEupéskk kcoJHw3HnABbIz%e8\t8ee"p"4y8\tEy%\\p7téFu"GGB\'56e'
        't\'%b\'€FljjyAlGitgEH\'v1ir😀%A😀{Dr😀uke\\BoBp}er"j"3éIrjznmIGjnv962 6aGw\tm4'
        'oéIbb\tx"Bp6}a AE v40Gp}0%J%9JEtD0bbs7JhBJ€}pz ncAzh l€l2e\\9x\\k{}o\'eFyc'
        "ir6FbwFd'r9Gbc Db8}s\tlo€2EJdspBClqk 4{tGasé4u31nl7c4t3{1EbAkA4v2s😀g\tfé"
        "J9 JvG81c5' BGlzgIGv40GHm4Ggzfu7Fi3€e44v9é2Dq€😀%ee1B%2\tawc02ng'5B7IlJc"
        'rFé6}0"zt02c5J4v😀Hv{nfG%pg%tbefbétI2w263"A2%bzCfnfw4vwyw7gbiiBw8{igdrJ'
        "kc2vI2E1fF\\}A6xéb umHk2€Jo8Ak3A7E4iyF5D8JytJrqjwi75😀'q2tpskj130{Cdq x😀"
        'dw3\\%8\\aFcm2tmD"6y4\t66\'suIy rB4Gd132vqm\\ugz2xxAsy" 6sq81kCJwmF7😀ldyJC0'
        '3é€%ipytx 1qouIB\tu5h3{\'k9"IqlzBq}rBfkGC€E\t57€dd3t}nyi 20emj€😀sx😀sl0HA%'
        "DdpJ0%Dzg'k1€dhgjihDx😀g\tIbf%niuyq29A6's3xBoeudn7t3{zGx5GE9tq'6klu1bc'v"
        '%Fv2xC}hAf}5s3 G"g8uizrDcya €b3o74GJI\\\te0eGxx8\tEc4da6"b2H6o😀0\'}hyrFI}o'
        "qt5\\3ee{2sv5😀vAD3cC H\tu{😀nn9m\\ra4 G4bCarA9a\t0😀d11 AkfB\tp0co3gqan31zy'I"
        'bm4j9gvgH😀ffh\tB😀cmz4z}"}m9v50"vdd H B5oB06BF9x€F3"J5u7JsEh😀FrExCugjl\\😀'
        "gr €s€\tCF00rrfI0IécD{uBG%gHdpcnfgz'z%x8v€g'r88m1éH\ti}\t4wxr\tF\t4DcGCcAbm"
        'h4tlqG8A\'1""ksE%eF€e"mvCgC0hE5Ez7\'sse ocGGFt4\t\\jEqE7GuppBGHgzéhf%\'8md5'
        "07ytpz%}l'9mmiph7😀a}trGnidJ2syu9B3pk}jH\tAEi3ukiE'BvwlonhqGx6'D3😀sn2Hzf"
        'xz5zyoméw€qki0iAq😀HCrApzzfeut914dcg7beD8qoqlg72eh}}}v0bxtiCBJg%ABhDkB{'
        'G7iwGIb\'n\t7F%p2\tbiwwka€pcj5"\t7}😀n\\}ft€v{3ézxeqr63😀wy\'ifcpépHc2jgA%4CG8'
        'w0véJéz0dAtu629890lfI{w1Bf😀sG😀AB1H}6p{h\'GnzB1"5rqht"\t xgqCxté{gB9h2s13'
        '62wEk}"m1€Idy7w€vcw€09r38€CoC\tb8\\cEg\t0uh6nqwIAmc7Ht{1%qxGz😀€Bupl \\arDs'
        'GtJ0vF}4rH😀xF9zl%t07Gk😀7gi\tb%"evu0GGbgs2EH3v"DAp\\di z\\"éH é7q5"1"véG\th'
        'Alb\'sz%a€7I\'29😀De\trkEr😀73l%d\\448yz4%dc3€vuds9wohz0F2j1 4mA2EqcCC"0lcz\''
        '€e7Bje5qo4z0\tpAubHn%imv€Gs5éw5xpI2}IGk6qdJ\'ugrJ5\tigbcwoibb €6Ev4wj"Ej7'
        'CqwHwE86\\rhC5rboCFBqdtIq{2pDyr\'tIFc0€F%k1d{fg😀u"Hc8y0%7wqE38qnG%J\\yHéé'
        'dExH5FGhk68 v\'ieI53eg%1II6BwE}iHmas€qokii4F\teI9bEéA7p"kqA eGjw6Fvq%Hjx'
        'Ad6\'s€FHfGb5I\\j6Amty\\j2égB2oEh grJ}{2\\ih6i\\F%Gqy5vFmycf"c4fC\tyAr r%0tl'
        'kst€nGF%%p2vghJqC😀uztA%d\\vs{%qj4l%c83d"0cbrwElqwx\'gg€cJ"}😀5BusA081😀0😀n'
        '%26biiF😀AraF0Fng4\'vA4p€H😀834 CD%de743ghv8Iq2réC99eHt4\t496e😀qjwF8b"xecb'
        "CGFta'ch}Ex8nlu5jcdDgHohrs'k'sbbC7éein7eE}€b'E4C vmJ94km5u04fjt8wD Gts"
        'zfjtJJ\'s40 m59p 0nrGvx6pjvrmFmsJ%e%😀"😀2JE"be4€pAb\'1uwi\t €{\'HJ3g66{sféx'
        'djJ\'tuin7pxCux%zo8dz0G2\t}gh7BjbGBF8krBrF3s9amxx"géH"7IzydpBFaam0yo hfd'
        'é{g\\\t8t€IdmGCH1 7%ligxpvjhIrjo85yJbpgo3aDJ%kI{C0t6%s\\J02oéruJ%af 3😀rA}'
        's13eq😀E😀7}kéHBiG"\\"svvs7ujm%snB7Hda}Ey6x1z42€8€%DulC3pzFmajwCf9 €4HiyG'
        "fkm 6l'}€\td3u7\\cBAt7kDép3f\\j\\éGxo{H0'935yiugE7n6tH4w3l0c14c%ghlxo4xlI\\"
        '%veGIivFi7I"tdCG1\t0ux"{"\\éb\tq %\\cr0\'"%tIi05Dibg09hé}3q😀p rI33g7nbibAn4'
        "tcGn éjeficyzAAp\\ I{{B😀Jijn'qs3g9b}cd\\J\\jz7qer6t😀qn36a9Ggéof5dBy5%d😀cv"
        "1ek1vhz31lm€\\😀un2b\tg5' 6mv😀4cak'0iEE6ydpFxxqhBs8Ff€ApAltwIéD {1ph 5xuF"
        "s ez9sc4vkrH7%2ro'egJB6pc3€B8aBéHd€hC5€'2J\\zFJpd5ljEgtG%qélyw{436HrD{0"
        "BGyiAFBea}'😀CHcujh\\2kt' CupgFH \\0Jy😀q{uBJdpw6Ddukd\t4ji%G'\t2\t😀lod4z\tJB%"
        "DJIB😀38\tagc{😀€7\\jwé736😀{lIj'eExAkgAJ2ngnct l'tw5lcyq4nm}4xJyxi}q4HIeék"
        'o809"uC"1{bI\'0wp066FB2w71%m1😀0qD\tél\\4 miCh1ulwe"I \t7ébltdHC n2e4782m\'\t'
        'c7HA2}Ij😀€\\a%\\BEJDgez0uH15285BtwEbDécf40x7"\thf\\y8%H{zHAv"wzFI0é"IG{0 C'
        '8ykBf5\tghcsFm08vl€Ds0rkxp{é"fE9\\3😀ftj12Gépysf0sH5GIvpE1Hydoch25jiJh2C6'
        '%y6HvgrIqwru5{vrCzs%G5 4iH€A\tIt\\0ID\\"2}GyiDmAnHnGuabxJD}q\t125\'s%HxCEpg'
        'ko\tD"éjib4"zJr}%ArfIrogb9\t\\\t😀mn€%giA€ nxJ0H40w 5éB0d4éAakw62\\7s4c"bu\tH'
        'g4kGbdB960q€veBerikj he\'8Fj8rf9dEDBiv80eat€}\'i0zxt\\ApIep%7€eb€0"k6H😀Ho'
        "}94oG6qfjmGEsm0F%gd5u1Iy😀Jc0}jx42\terk\t😀t'B%8x%Dv8qxEw7H0b3tgI\\nC0\tmD}i"
        'fwqdtm924w6m4cIE{3Jiz7C%soE4z0E4"bz gHq0%%dkg uvG1A5a€{1D4mI\\"%0A\\JcG '
        "9jIvr\tptAb%zpD3alC\tGmc5nwC73B4I%t'oA{dpjyvp16u06'uy'z%l6i8u2fCHAIeqqeB"
        '\\\\9€obusDFI f9J😀ybdHjx}zfv82B hoHdD"jwz \\q8H6ogI35éuxmyJ}ztDDaldn0tyJ6'
        '{foEhena\t 003cB22FE}{5ts2"h"cg😀diH\'G8vHm\'1Eoj0😀A{Dv}FI2lii5bJ8m"DG€Gwa'
        'n7kJudApt"CxwCwe4G65 😀GyzHj%%Cé}z"x😀%\'hDiE5fe{sziti09ockj37iH3z2%€lA3D'
        'k93😀0Hcf{{vsrkEe5\\B"Ga8nfH31AGm7fa0l😀H"5f€"9F\\te2Iccz {F\\ szkzs0zzD{ya'
        'rqAlBty21v\tp6piqIG0mk€h4"4pl%zad\'iJDfu2eo05}%w 2😀bup0IxI7}aC6655fA😀r{"'
        'ClJ4\\{6éJrEb{zuxqhkwéqtfE\'}wAns\tk98x u"laeda1e\\H ra2m"3jpHlB😀jJ\tq\'qaH8'
        '%😀1bm7JF"3l79uw6%jDa{8aGu4x"mhsiEGJ2tEk😀BhI8 8qIaq5EHtqEb8ééAb1f3mF mw'
        'tgi{Dd3Bj7mls7t\tb5wévd7m€m\\8{i😀%xuI8x\tz€g03FutIggf"0ta2au8e4fh"C6fc xx'
        "Dk aDg3ehx{CJsj1jinAq6aG1I0G'yAémpCwjI€C€ékDkghuGtl€0\tcHlpC'kvt\t1{y4u1"
        'Fuxtyuiw😀\\D16\tB1fx43Irl9dAhc2ECyHsC93D😀 q%CIobu\\😀eibfgtjj\thcje864m\tby\t'
        "lG'k0ufmréds{5g1wIq{z€\tdD%F😀kdfu\tpvEGd}4im\\rlFc1mG1qBCifmevvhshE\tEm€pg"
        'Dqu\t\\jwckz{\'I8}2HCa8dr217CgwF8J😀bCp6\\xClG7\tmev"bl2k"tfJAt€fzeoé\\0{u😀5k'
        'x1\tzdncG€czl gBz"\'6😀F1C0eCCIpx j}ral7éévhm7bl😀9l\\Asw7ai0ké\tC}B\t\\gb%}l6'
        '66l"CEm k0mgJI6olFyCrh9lyfijiiH}t""smpF s7d46uj😀"gg2hnw5kBJzéicJ% D{bb'
        'ci"8g 700fFvdgaC 9baHojd😀8I6dwdl7rHxB\t8x15rhB0\'fHxwh{IFF}\\}i4ij8wlww😀😀'
        'mAj 3c1cjy\'lb%"4g😀Je😀éj😀i😀11oxboa"Jei€H9"DjordrJr€a oo"😀\t%l3HGr8tt\' \\u'
        "0buj😀0f9yEdA8m😀x Iqq'87HxngIb}D CBe'mDujlvxt%yEx€\\\\jbqtFzcej\\%r22kvlwe"
        '45{9F€"c%😀€9r\\3p7G😀éBD40vzr9B6maysEs6%p€q01C7ofHfIz3ta67og5eiqqvw07nfc'
        "l903l5p0😀Hxt'D{qnvk\\2\\p\\GoipsAfbG8h}kDeiCG€'gxuC'\t1bgg38BHoI0EkgGi8G2I"
        "C'hlqpAGJ9k{v\\\\1rq4if€epuu8{h2Ihb}g4pCmc{59c{oig3qag38owxF{gmJtf}rnfhh"
        "😀E5}o7Ad2f😀b{B€\tiF1C4Blf😀séiJewa7oJ5cE3\trgv€4Aci5y9'dAB 0dxn3E9vF i 6{"
        'g"}3Ioe€xfcv€cl43{6E\\tJ2AoIJ\'yseéDysmBeFGq771u\'rup"\'}7ok😀1cgbBte4€F3😀A'
        'D9h€1nz "gEe\'ézéo0t\'5CbIkéf\tk5aCcBzq6l}aré0hC E\t😀67rJ0}4\t64\'c2eFaJ31%😀'
        'C59p3\tslvéph{pI88p"\\6u1oaAc3IrHC7ié4fo%fvb5én55sI}"q4t\'9😀61kwod9vs9😀"c'
        'vju{%49zJa😀DmDI3nrGf"87oGdu \tstéFHmjvmCa\'n9iJ5bDp1xIDem7e9Ct1qD{\'on€h%'
        "w'bIt2A\tgqecéDevxhc émanyp7xéEs7{E%Fucco😀1b6'CD{bnh€4{al0 Hj€yy€9lpéjl"
        '6ezFob}o5a0\\DaéB{0Dfbz r%6sIJrc91%Ie4g 9as%"rEcJoéJ"68F2JqH8H1t3r80q87'
        '2Hv {"pqou6C%u24o5f\tb}6c8dJqfa€BJq8ks7tDz3\'y0% xsf😀{uI3uc3{"J9fJt3D%%4'
        "hkG 4JgAu% Ho7xxr7v2gts€wh%CGpqpr2😀kpiDfg}m1fGFpcd4é39Ir5m'}Gg3%h5CI8}"
        "5 HAy6k4Gi3ky ig😀4E9😀€'gbu0q}zp😀38 }vigo'{F 3r3vt€{l€3{ko7Eh0H3JCFHljt"
        '€5Clfgk}😀8jo\t"{3izoAkhDu\tCI\'}nv\'9D55sH\t9€ss{eimturC1j€61j5f9d%\t000cCén'
        '9F9e7n% AEgdIfr"%je 1xgCJei%\'géF\tvxu€ioyxFEj{G8😀fmBbsbgj😀tHk1E6yJqs"€z'
        'AAsx"hgAns€A8ap"é"7E}zf%tmrl%D2cDemeDGegdovwJi 24\'cpmqikEyBpfiu5wj}Ge0'
        '3fe2Ju7%{r4EbF{660 x5Bby7fé0D m%z9A p{6}1gA0€{o"j{5 iE"G{2fthc50{éiqIt'
        'yD4Ge7FjwFA2\tnHhérh"9e\'BJ\'%DG\'1xr"}cny9mm\\CgEhBiv33ce5h4mf3Do GJu€8Guc'
        '}EéIndvE😀C"I0E9o\\2jJa opby\\rII8rGC %9uDm\\rkJCaC😀B€ICjé\'1%a😀lD8""7l5aCm'
        '7t9zh5HiBri\\i%r{r3m9w7l8FxdkqCH453pH\\vE0gz\ts{"FrJqmyv1\'hey 😀g5Iq59a9yb'
        '5axekgbutafpy\'€wn😀ya9mHp8C5Bx%J{\\mq9I😀😀€%€€IH%fkx9"yé😀5s6 "E€"bBfclr\'n'
        'nu2A\'0e4\\H9f0I%93z0Bql\'GDvy6B7z😀2iopFJ2G\tf7e"6aBauwAGzB9m"BuerIwr\tB\'JE'
        'xygC1A8og1éco07e€\tv}bi😀C0zm53é}t€€fy2"J0%f2\\i1}zBd\tiJ64\'1IJr😀{éEo \tH9x'
        'BAj\'c0f0€c%2bylcqkl%i\\l7iIuvkwk8eiy6m7céj😀z4"C €zauz\tww€x6q EwréJ4j6pC'
        '6c65mp90y\'9{y\tjJFhyCmry"pqyjG61G95EGclu\\9😀pzEG%vkoIv6😀\'b7s\\é\'éq😀g6bn8g'
        'u8FEta"CjG{4eéA9DI8€D"a4uxp€3Cgpz8wCdi5zt%01Ie4}jgu57\'cCyé2w2ag89q3tb\\'
        '%aoJér\t37od😀hdpfblF Huk"qfshHuqErnoIdyykh{zj0Ht%ti"r9ciwiwqh8f€zpC9wJz'
        "o025hq😀\\d 'I'xw0z9d77CAg yG\\hj q\\C%zérHboDAcpla3'bGnv%}Ir'eH'ru6s83zwc"
        "7'u2F😀i\tFbb119hg2w5u53unéFwrdhi2JIB{2bAnpBnck1EbFDéxjCre1gj€eéEBjCexdd"
        'kh{g€dlz3hxsuEs%DDs9j1ne\tiDFCéCn\\e67w€0tr95C9j0p\\3I5f\tmCIcuaDvr7JtFoer'
        '41og zuu\\rEsrhJzhAA€6dGB105xJydkr1"chrmblrH\t\\3e%g\\d%ajGlbFHx😀9hy5pb Em'
        'yEébtnbdGF6E nugz8Eovd😀gA2ru6}u4o 2hwm %5u%zzFAIdB\t{0zJ46} 1€jg{ 2p"nx'
        'enew1ci{7oza6Im\\\\JdazrxE\t5%\'D" cj18CF9y3h4éacwcC"E\t507d9"s4"E {sEqtnaa'
        '5"CD0s}97nvD\'H7\t{ox5fAmo38ieFgxb1xy2\\llvjfG😀35l"Cqrxveq5b5g60miF6i😀v4w'
        'Eédo\\pbxvDw3s1qw0inw%\'j9 x9q\t3%"p%r9xHgs4w8I"JkxH😀4G2rf8\'€B73\\arsk 6}n'
        'zI\'5}jtD EGAzjpvpd1xg\\h\'zG{4p}fwGcs5J"EbJ{rka\\vru5z\t6j4té8h😀}i"}JvoyeC'
        'Hi1Gdq}éF{lCBe7Hdp r1DECAC bwa kobmgCEtltzmII0E\tkln \tges\\{3n{B"kHIl3s1'
        "fkAnwzHi's71JygDh90spsB9210x\tEGs\\\tzv😀ey0\tiD qg}écj%JuxdF2rmmJ}v7klDmjD"
        " pr' h6veafkxs\\\tjvé09wAffF😀1IwaoDl15\\HHmpkueCkx G7yb}0z\\hDiIc 2\tvq2juq"
        'jF881"mjd\\h2😀vfD1\'BF1cphdIz\'Agk€Ir9\\e6d€x5"HAe"uBg02IxAih{s{€bn2550}c8'
        'f9u9qso%DB0jmG\\pétrp%mrhéDG7€€"m0fGkjGnchH34q\'q6o6e\tAbCr 2€9éh23fAd€q}'
        'qzJ1k9 ms\'b768BpFgc{€ks\\mrEJ}Ey}JJAH😀eut"E1fI😀t0zr42ahBmBfo3odxbl\tGtr1'
        'CbEJ€hC9""Ghn rev8sd\t€epxH😀r2G6qsqdypdut{😀wk2GhuoIj b}mB0sp8"8\t€wq\'b g'
        'ryp4Ddq82gejBeofcr7ms\'bIDHy6{z}A}{c%9y3é😀yFpvnty éBeh%Iuédng6Fa u{"z7o'
    )
    big = 3703633553458988191951974517790509106152936708954682243577545665761743636878121352291779253462053983059009668861547217195682739117850118350082403791928877926045008370435070564496615901263788348273433004155115592434036541256193662188514111357600843290635574532158789361254792657179813327520180208828937231810950060232310658708592626955683634893775597064087235180590084377907172455206016344470637679559265797965266379373105102772809662177389416946965493067865426304579889523877234666615299867665848656245124536507750920588975484100300349256862746400814073121132632090114917538537700094096420001
    many = (
        0, 1, 4, 9, 16, 25, 36, 49, 64, 81, 100, 121, 144, 169, 196, 225,
        256, 289, 324, 361, 400, 441, 484, 529, 576, 625, 676, 729, 784, 841, 900, 961,
        1024, 1089, 1156, 1225, 1296, 1369, 1444, 1521, 1600, 1681, 1764, 1849, 1936, 2025, 2116, 2209,
        2304, 2401, 2500, 2601, 2704, 2809, 2916, 3025, 3136, 3249, 3364, 3481, 3600, 3721, 3844, 3969,
        4096, 4225, 4356, 4489, 4624, 4761, 4900, 5041, 5184, 5329, 5476, 5625, 5776, 5929, 6084, 6241,
        6400, 6561, 6724, 6889, 7056, 7225, 7396, 7569, 7744, 7921, 8100, 8281, 8464, 8649, 8836, 9025,
        9216, 9409, 9604, 9801, 10000, 10201, 10404, 10609, 10816, 11025, 11236, 11449, 11664, 11881, 12100, 12321,
        12544, 12769, 12996, 13225, 13456, 13689, 13924, 14161, 14400, 14641, 14884, 15129, 15376, 15625, 15876, 16129,
        16384, 16641, 16900, 17161, 17424, 17689, 17956, 18225, 18496, 18769, 19044, 19321, 19600, 19881, 20164, 20449,
        20736, 21025, 21316, 21609, 21904, 22201, 22500, 22801, 23104, 23409, 23716, 24025, 24336, 24649, 24964, 25281,
        25600, 25921, 26244, 26569, 26896, 27225, 27556, 27889, 28224, 28561, 28900, 29241, 29584, 29929, 30276, 30625,
        30976, 31329, 31684, 32041, 32400, 32761, 33124, 33489, 33856, 34225, 34596, 34969, 35344, 35721, 36100, 36481,
        36864, 37249, 37636, 38025, 38416, 38809, 39204, 39601, 40000, 40401, 40804, 41209, 41616, 42025, 42436, 42849,
        43264, 43681, 44100, 44521, 44944, 45369, 45796, 46225, 46656, 47089, 47524, 47961, 48400, 48841, 49284, 49729,
        50176, 50625, 51076, 51529, 51984, 52441, 52900, 53361, 53824, 54289, 54756, 55225, 55696, 56169, 56644, 57121,
        57600, 58081, 58564, 59049, 59536, 60025, 60516, 61009, 61504, 62001, 62500, 63001, 63504, 64009, 64516, 65025,
        65536, 66049, 66564, 67081, 67600, 68121, 68644, 69169, 69696, 70225, 70756, 71289, 71824, 72361, 72900, 73441,
        73984, 74529, 75076, 75625, 76176, 76729, 77284, 77841, 78400, 78961, 79524, 80089, 80656, 81225, 81796, 82369,
        82944, 83521, 84100, 84681, 85264, 85849, 86436, 87025, 87616, 88209, 88804, 89401, 90000, 90601, 91204, 91809,
        92416, 93025, 93636, 94249, 94864, 95481, 96100, 96721, 97344, 97969, 98596, 99225, 99856, 100489, 101124, 101761,
        102400, 103041, 103684, 104329, 104976, 105625, 106276, 106929, 107584, 108241, 108900, 109561, 110224, 110889, 111556, 112225,
        112896, 113569, 114244, 114921, 115600, 116281, 116964, 117649, 118336, 119025, 119716, 120409, 121104, 121801, 122500, 123201,
        123904, 124609, 125316, 126025, 126736, 127449, 128164, 128881, 129600, 130321, 131044, 131769, 132496, 133225, 133956, 134689,
        135424, 136161, 136900, 137641, 138384, 139129, 139876, 140625, 141376, 142129, 142884, 143641, 144400, 145161, 145924, 146689,
        147456, 148225, 148996, 149769, 150544, 151321, 152100, 152881, 153664, 154449, 155236, 156025, 156816, 157609, 158404, 159201,
    )
    return len(text), text[:50], text[-50:], hash(text) == hash(text[:]), big % 1000003, many[-3:], len(many)


def test_long_constants(backend):
    check(long_constants, (), backend=backend)


# --- f-strings and formatting -------------------------------------------------------------------

class Fmt:
    def __init__(self, log, result="<fmt>"):
        self.log, self.result = log, result

    def __format__(self, spec):
        self.log.append(("format", spec))
        return self.result

    def __repr__(self):
        self.log.append("repr")
        return "Fmt-repr-é"

    def __str__(self):
        self.log.append("str")
        return "Fmt-str"


def fstring_conversions(x):
    return f"{x!r}", f"{x!s}", f"{x!a}", f"{x}", f"[{x!r:>12}]", f"{x!s:*<9}|"


def test_fstring_conversions(backend):
    check(fstring_conversions, ("héllo\n",), ("π",), (1.5,), (None,), (-0.0,), (b"b",),
          ([1, "a"],), (fresh(lambda: Fmt([])),), backend=backend)


def fstring_user_format(log, spec, result):
    obj = Fmt(log, result)
    return f"{obj} {obj:{spec}} {obj!r} {obj!s:>{len(spec) + 9}}", format(obj, spec)


def test_fstring_calls_format_with_nested_spec(backend):
    check(fstring_user_format, (LOG, "x>10", "ok"), (LOG, "", ""), (LOG, "{}", "é"),
          (LOG, "a", 5), backend=backend)


def number_format(x, width, prec):
    return (f"{x:{width}.{prec}f}", f"{x:+.{prec}e}", f"{x:^{width}}", f"{x:%}", f"{x:g}",
            f"{x:,.2f}", f"{x:=+{width}.1f}", f"{x:.{prec}}")


def test_float_format_specs(backend):
    check(number_format, (3.14159, 10, 2), (-0.0, 6, 1), (NAN, 5, 3), (float("inf"), 8, 0),
          (1e16, 4, 4), (2**70, 30, 2), (True, 5, 1), (1.5, None, 2), (1.5, 5, -1),
          ("str", 5, 2), backend=backend)


def int_format(n):
    return (f"{n:#x}", f"{n:#o}", f"{n:#b}", f"{n:_}", f"{n:,}", f"{n:08d}", f"{n:=+10}",
            f"{n:X}", f"{n:c}")


def test_int_format_specs(backend):
    check(int_format, (0,), (255,), (-255,), (0x10FFFF,), (True,), (2**70,), (1.5,),
          backend=backend)


def fstring_equals(x):
    return f"{x=}", f"{x = }", f"{x=!s}", f"{x=!a}", f"{x=:>10}", f"{x*2=}", f"{ x  =  }"


def test_fstring_equals_specifier(backend):
    check(fstring_equals, (1.5,), ("é",), (None,), ([1],), backend=backend)


def fstring_equals_with_format_spec(x):
    return f"{x=:.2f}"


def test_fstring_equals_with_spec_uses_format(backend):
    check(fstring_equals_with_format_spec, (3.14159,), (2,), ("s",), backend=backend)


def fstring_braces_nesting(x):
    return (f"{{literal}} {x}", f"{'nested ' + f'{x!r}'}", f"{x!r:{'^'}{10}}", f"{'{'}",
            f"""multi
line {x}
""", rf"\d{x}\n", f"{x}{x}{{{x}}}", f"{'%s' % (x,)}", f"{x:}", F"{x}")


def test_fstring_braces_nesting_and_raw(backend):
    check(fstring_braces_nesting, (1,), ("{}",), ("%",), backend=backend)


def fstring_evaluation_order(log):
    return f"{note(log, 'a', 1)}-{note(log, 'b', 2):{note(log, 'spec', '>3')}}-{note(log, 'c', 3)!r}"


def test_fstring_evaluation_order(backend):
    check(fstring_evaluation_order, (LOG,), backend=backend)


def percent_format(fmt, args):
    return fmt % args


def test_percent_formatting(backend):
    check(percent_format, ("%s %d", ("a", 3)), ("%(name)s is %(age)d", {"name": "x", "age": 3}),
          ("%r", ("x",)), ("%5.2f%%", 3.14159), ("%s", (1, 2)), ("%s %s", (1,)), ("%d", "x"),
          ("%c", 65), ("%c", "ab"), ("%x %o %e %g", (255, 8, 1.5, 1e-5)), ("%-5s|", "ab"),
          ("%*d", (5, 3)), ("%(a)s", ("t",)), ("%s", [1]), ("%s", ()), ("%a", "é"),
          (b"%s %d", (b"x", 3)), (b"%s", "str"), ("%i", 3.9), ("%d", 2**70), ("%.3s", "abcdef"),
          ("%y", 1), ("%s", {"k": 1}), ("%(k)s %%", {"k": NAN}), ("no format", {}),
          backend=backend)


def percent_literal_format(a, b):
    return "%s-%r-%5d-%-4s|" % (a, b, 42, "x"), "%(a)s/%(b)r" % {"a": a, "b": b}


def test_percent_formatting_with_constant_format(backend):
    check(percent_literal_format, (1, "b"), ((1,), [2]), backend=backend)


def str_format(kind):
    if kind == "auto":
        return "{} {}".format(1, "a"), "{1}{0}{1}".format("a", "b"), "{name}!".format(name="n")
    if kind == "fields":
        return "{0.real}|{0.imag}".format(1j), "{0[k]}|{0[0]}".format({"k": 1, 0: "z"})
    if kind == "nested spec":
        return "{:{w}}|".format("x", w=5), "{0:{1}}".format(3.14159, ".2f"), "{!r:>10}".format("é")
    if kind == "index error":
        return "{} {}".format(1)
    if kind == "key error":
        return "{missing}".format()
    if kind == "switch":
        return "{}{1}".format(1, 2)
    if kind == "single brace":
        return "{".format()
    if kind == "format_map":
        return "{a}-{b}".format_map({"a": 1, "b": 2}), "{{}}".format()
    if kind == "bad conversion":
        return "{!z}".format(1)
    return None


def test_str_format(backend):
    check(str_format, ("auto",), ("fields",), ("nested spec",), ("index error",), ("key error",),
          ("switch",), ("single brace",), ("format_map",), ("bad conversion",), ("none",),
          backend=backend)


def format_builtin(x, spec):
    return format(x, spec), "{:{}}".format(x, spec)


def test_format_builtin_and_errors(backend):
    check(format_builtin, (1.5, ".3"), ("s", "d"), (5, "s"), (1j, ".1f"), (object(), "x"),
          (None, ""), ([1], ""), backend=backend)
