"""``proj([lon, lat])`` of @etalab/project-legal 0.6.0 on proj4 2.22.0 (RULES §9.2), pure math.

The reference picks the first of 12 zones whose bbox contains the WGS-84 point and projects it
with proj4js: ``lcc`` (Lambert conformal conic) or ``utm`` = ``etmerc`` (Poder/Engsager extended
transverse Mercator). No datum shift happens in any zone: proj4js treats GRS80 + zero towgs84 as
WGS-84 (``compareDatums`` tolerance) and zones without towgs84 have no datum. The formulas below
are proj4js's, in the same order of floating-point operations, with constants precomputed once;
results agree with proj4js to ~1e-9 m (libm last-bit differences only).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import NDArray

_D2R: Final = 0.01745329251994329577
_HALF_PI: Final = math.pi / 2


class ProjError(ValueError):
    """Where project-legal throws: coordinates missing, NaN or outside [-180, 180] × [-90, 90]."""


def _ellipsoid(a: float, rf: float) -> tuple[float, float]:
    """proj4js ``deriveConstants``: (b, es) from the semi-major axis and inverse flattening."""
    b = (1.0 - 1.0 / rf) * a
    es = (a * a - b * b) / (a * a)
    return b, es


_GRS80: Final = (6378137.0, 298.257222101)
_INTL: Final = (6378388.0, 297.0)

Forward = Callable[[float, float], tuple[float, float]]


def _tsfnz(e: float, phi: float, sinphi: float) -> float:
    con = e * sinphi
    return math.tan(0.5 * (_HALF_PI - phi)) / math.pow((1 - con) / (1 + con), 0.5 * e)


def _msfnz(e: float, sinphi: float, cosphi: float) -> float:
    con = e * sinphi
    return cosphi / math.sqrt(1 - con * con)


def _lcc_constants(lat1: str, lat2: str, lat0: str, lon0: str) -> tuple[float, ...]:
    """proj4js ``lcc`` init (2 standard parallels, k0 = 1, GRS80): e, e/2, a·f0, ns, rh, lon0."""
    a, rf = _GRS80
    b, _ = _ellipsoid(a, rf)
    temp = b / a
    e = math.sqrt(1 - temp * temp)
    # proj4 strings are parsed as ``v * D2R`` with v a decimal string
    phi1, phi2, phi0 = float(lat1) * _D2R, float(lat2) * _D2R, float(lat0) * _D2R
    sin1, sin2 = math.sin(phi1), math.sin(phi2)
    ms1 = _msfnz(e, sin1, math.cos(phi1))
    ms2 = _msfnz(e, sin2, math.cos(phi2))
    ts1, ts2 = _tsfnz(e, phi1, sin1), _tsfnz(e, phi2, sin2)
    ts0 = _tsfnz(e, phi0, math.sin(phi0))
    ns = math.log(ms1 / ms2) / math.log(ts1 / ts2)
    f0 = ms1 / (ns * math.pow(ts1, ns))
    af0 = a * f0
    rh = af0 * math.pow(ts0, ns)
    return e, 0.5 * e, af0, ns, rh, float(lon0) * _D2R


def _lcc(lat1: str, lat2: str, lat0: str, lon0: str, x0: float, y0: float) -> Forward:
    """proj4js ``lcc`` forward (degrees in, metres out, unrounded)."""
    e, half_e, af0, ns, rh, long0 = _lcc_constants(lat1, lat2, lat0, lon0)
    sin, cos, tan, pow_ = math.sin, math.cos, math.tan, math.pow

    def forward(lon: float, lat: float) -> tuple[float, float]:
        phi = lat * _D2R
        con = e * sin(phi)
        ts = tan(0.5 * (_HALF_PI - phi)) / pow_((1 - con) / (1 + con), half_e)
        rh1 = af0 * pow_(ts, ns)
        # adjust_lon is a no-op: no bbox gets near the antimeridian of its central meridian
        theta = ns * (lon * _D2R - long0)
        return rh1 * sin(theta) + x0, (rh - rh1 * cos(theta)) + y0

    return forward


def _etmerc_coefficients(n: float) -> tuple[tuple[float, ...], tuple[float, ...], float]:
    """proj4js ``etmerc`` init: (cbg, gtu, Qn/k0) series for the third flattening ``n``."""
    cbg = [
        n * (-2 + n * (2 / 3 + n * (4 / 3 + n * (-82 / 45 + n * (32 / 45 + n * (4642 / 4725)))))),
    ]
    np_ = n * n
    cbg.append(np_ * (5 / 3 + n * (-16 / 15 + n * (-13 / 9 + n * (904 / 315 + n * (-1522 / 945))))))
    np_ = np_ * n
    cbg.append(np_ * (-26 / 15 + n * (34 / 21 + n * (8 / 5 + n * (-12686 / 2835)))))
    np_ = np_ * n
    cbg.append(np_ * (1237 / 630 + n * (-12 / 5 + n * (-24832 / 14175))))
    np_ = np_ * n
    cbg.append(np_ * (-734 / 315 + n * (109598 / 31185)))
    np_ = np_ * n
    cbg.append(np_ * (444337 / 155925))

    np_ = math.pow(n, 2)
    qn = 0.9996 / (1 + n) * (1 + np_ * (1 / 4 + np_ * (1 / 64 + np_ / 256)))
    # (innermost terms named only to fit the line length; same operations, same order)
    inner0 = n * (-127 / 288 + n * (7891 / 37800))
    inner1 = n * (281 / 630 + n * (-1983433 / 1935360))
    gtu = [
        n * (0.5 + n * (-2 / 3 + n * (5 / 16 + n * (41 / 180 + inner0)))),
        np_ * (13 / 48 + n * (-3 / 5 + n * (557 / 1440 + inner1))),
    ]
    np_ = np_ * n
    gtu.append(np_ * (61 / 240 + n * (-103 / 140 + n * (15061 / 26880 + n * (167603 / 181440)))))
    np_ = np_ * n
    gtu.append(np_ * (49561 / 161280 + n * (-179 / 168 + n * (6601661 / 7257600))))
    np_ = np_ * n
    gtu.append(np_ * (34729 / 80640 + n * (-3418889 / 1995840)))
    np_ = np_ * n
    gtu.append(np_ * (212378941 / 319334400))
    return tuple(cbg), tuple(gtu), qn


def _hypot(x: float, y: float) -> float:
    """proj4js ``hypot`` (not ``Math.hypot``)."""
    x, y = abs(x), abs(y)
    a = max(x, y)
    b = min(x, y) / (a if a else 1)
    return a * math.sqrt(1 + math.pow(b, 2))


def _asinhy(x: float) -> float:
    y = abs(x)
    y = y * (1 + y / (_hypot(1, y) + 1))
    # log1py
    yy = 1 + y
    z = yy - 1
    y = y if z == 0 else y * math.log(yy) / z
    return -y if x < 0 else y


def _utm(zone: int, south: bool, ellps: tuple[float, float]) -> Forward:
    """proj4js ``utm`` → ``etmerc`` init and forward (degrees), k0 = 0.9996, lat0 = 0."""
    a, rf = ellps
    _, es = _ellipsoid(a, rf)
    f = es / (1 + math.sqrt(1 - es))
    n = f / (2 - f)
    cbg, gtu, qn = _etmerc_coefficients(n)
    long0 = ((6 * abs(zone)) - 183) * _D2R
    x0, y0 = 500000.0, 10000000.0 if south else 0.0
    # Zb = -Qn * (gatg(cbg, 0) + clens(gtu, 0)) = -Qn * 0 (lat0 = 0)
    zb = -qn * 0.0
    c0, c1, c2, c3, c4, c5 = cbg
    g0, g1, g2, g3, g4, g5 = gtu
    sin, cos, exp, atan2, tan = math.sin, math.cos, math.exp, math.atan2, math.tan

    def forward(lon: float, lat: float) -> tuple[float, float]:
        ce = lon * _D2R - long0
        b = lat * _D2R
        # gatg(cbg, b), Clenshaw summation unrolled
        cos_2b = 2 * cos(2 * b)
        h1 = c5
        h = cos_2b * h1 + c4
        h2, h1 = h1, h
        h = -h2 + cos_2b * h1 + c3
        h2, h1 = h1, h
        h = -h2 + cos_2b * h1 + c2
        h2, h1 = h1, h
        h = -h2 + cos_2b * h1 + c1
        h2, h1 = h1, h
        h = -h2 + cos_2b * h1 + c0
        cn = b + h * sin(2 * b)

        sin_cn, cos_cn = sin(cn), cos(cn)
        sin_ce, cos_ce = sin(ce), cos(ce)
        cn = atan2(sin_cn, cos_ce * cos_cn)
        ce = atan2(sin_ce * cos_cn, _hypot(sin_cn, cos_cn * cos_ce))
        ce = _asinhy(tan(ce))

        # clens_cmplx(gtu, 2 cn, 2 ce)
        arg_r, arg_i = 2 * cn, 2 * ce
        sin_r, cos_r = sin(arg_r), cos(arg_r)
        ex = exp(arg_i)
        sinh_i = (ex - 1 / ex) / 2
        cosh_i = (ex + 1 / ex) / 2
        r = 2 * cos_r * cosh_i
        i = -2 * sin_r * sinh_i
        hr, hi1, hr1, hi = g5, 0.0, 0.0, 0.0
        for coef in (g4, g3, g2, g1, g0):
            hr2, hi2, hr1, hi1 = hr1, hi1, hr, hi
            hr = -hr2 + r * hr1 - i * hi1 + coef
            hi = -hi2 + i * hr1 + r * hi1
        r = sin_r * cosh_i
        i = cos_r * sinh_i
        cn = cn + (r * hr - i * hi)
        ce = ce + (r * hi + i * hr)
        # |ce| <= 2.623395162778 always holds inside the zone bboxes (else proj4 gives Infinity)
        return a * (qn * ce) + x0, a * (qn * cn + zb) + y0

    return forward


_LCC_NC: Final = _lcc(
    "-20.66666666666667", "-22.33333333333333", "-21.5", "166", 400000.0, 300000.0
)
# (minLon, minLat, maxLon, maxLat), projection; in project-legal's order (first match wins).
_ZONES: Final[tuple[tuple[float, float, float, float, Forward], ...]] = (
    (-9.86, 41.15, 10.38, 51.56, _lcc("49", "44", "46.5", "3", 700000.0, 6600000.0)),  # 2154
    (-63.66, 14.08, -57.52, 18.54, _utm(20, False, _GRS80)),  # 5490 Antilles
    (-54.6, 2.11, -49.46, 8.88, _utm(22, False, _GRS80)),  # 2972 Guyane
    (51.83, -24.72, 58.24, -18.28, _utm(40, True, _GRS80)),  # 2975 Réunion
    (43.68, -14.49, 46.7, -11.33, _utm(38, True, _GRS80)),  # 4471 Mayotte
    (-57.1, 43.41, -55.9, 47.37, _utm(21, False, _GRS80)),  # 4467 St-Pierre-et-Miquelon
    (163.55, -22.75, 168.2, -19.54, _LCC_NC),  # 3163 Nouvelle-Calédonie
    (-155.0, -24.0, -150.0, -9.0, _utm(5, True, _GRS80)),  # 3296 Polynésie
    (-150.0, -29.0, -144.0, -13.0, _utm(6, True, _GRS80)),  # 3297
    (-144.0, -29.0, -138.0, -7.0, _utm(7, True, _GRS80)),  # 3298
    (-138.0, -25.0, -132.0, -18.0, _utm(8, True, _GRS80)),  # 3299
    (-177.0, -14.0, -176.0, -13.0, _utm(1, True, _INTL)),  # 2988 Wallis
)


def _make_proj() -> Callable[[float | None, float | None], tuple[float, float] | None]:
    """Build ``proj`` with Lambert-93 inlined: ~300k calls per file, nearly all in that zone,
    so its constants live in the closure and the rounding is written out."""
    lcc93 = _lcc_constants("49", "44", "46.5", "3")
    e, half_e, af0, ns, rh, long0 = lcc93
    x0, y0 = 700000.0, 6600000.0
    sin, cos, tan, pow_, floor = math.sin, math.cos, math.tan, math.pow, math.floor
    half_pi, d2r = _HALF_PI, _D2R
    zones = _ZONES

    def proj(lon: float | None, lat: float | None) -> tuple[float, float] | None:
        """Project a WGS-84 point to its legal projection, coordinates rounded to the centimetre.

        Returns ``None`` outside every zone; raises ``ProjError`` where the reference throws
        (``None`` = JS undefined, NaN, or outside [-180, 180] × [-90, 90]).
        """
        if lon is None or lat is None:
            raise ProjError("Invalid WGS-84 coordinates")
        if -9.86 <= lon <= 10.38 and 41.15 <= lat <= 51.56:
            phi = lat * d2r
            con = e * sin(phi)
            ts = tan(0.5 * (half_pi - phi)) / pow_((1 - con) / (1 + con), half_e)
            rh1 = af0 * pow_(ts, ns)
            theta = ns * (lon * d2r - long0)
            x = (rh1 * sin(theta) + x0) * 100
            y = ((rh - rh1 * cos(theta)) + y0) * 100
        else:
            if not (-180 <= lon <= 180 and -90 <= lat <= 90):  # NaN fails too
                raise ProjError("Invalid WGS-84 coordinates")
            for min_lon, min_lat, max_lon, max_lat, forward in zones:
                if min_lon <= lon <= max_lon and min_lat <= lat <= max_lat:
                    x, y = forward(lon, lat)
                    x, y = x * 100, y * 100
                    break
            else:
                return None
        # fixPrecision(v, 2) = Math.round(v * 100) / 100, halves towards +infinity
        rx, ry = floor(x), floor(y)
        if x - rx >= 0.5:
            rx += 1
        if y - ry >= 0.5:
            ry += 1
        return rx / 100, ry / 100

    return proj


proj: Final = _make_proj()


L93_BOX: Final = (-9.86, 41.15, 10.38, 51.56)
"""Lambert-93's bbox (minLon, minLat, maxLon, maxLat): the first zone, nearly every BAL row."""


def lambert93_many(lon: NDArray[np.float64], lat: NDArray[np.float64]) -> tuple[
    NDArray[np.bool_], NDArray[np.float64], NDArray[np.float64]
]:  # fmt: skip
    """``proj`` for arrays of points: (inside Lambert-93's box, x, y), rounded to the centimetre.

    Same formulas in the same order as ``proj``, but numpy's sin/tan/pow may differ from libm in
    the last bit: a result can be one centimetre off where the rounding hesitates. Use it as a
    filter, not as the truth. Outside the box (NaN included) the coordinates are meaningless.
    """
    import numpy as np

    e, half_e, af0, ns, rh, long0 = _lcc_constants("49", "44", "46.5", "3")
    min_lon, min_lat, max_lon, max_lat = L93_BOX
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        inside = (min_lon <= lon) & (lon <= max_lon) & (min_lat <= lat) & (lat <= max_lat)
        phi = lat * _D2R
        con = e * np.sin(phi)
        ts = np.tan(0.5 * (_HALF_PI - phi)) / np.power((1 - con) / (1 + con), half_e)
        rh1 = af0 * np.power(ts, ns)
        theta = ns * (lon * _D2R - long0)
        x = (rh1 * np.sin(theta) + 700000.0) * 100
        y = ((rh - rh1 * np.cos(theta)) + 6600000.0) * 100
        # fixPrecision(v, 2) = Math.round(v * 100) / 100, halves towards +infinity
        x = np.floor(x + 0.5) / 100
        y = np.floor(y + 0.5) / 100
    return inside, x, y
