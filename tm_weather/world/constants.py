"""Every physical term of the benchmark world and its size, in one place (the table in docs/world.md).

Three kinds of numbers: `fitted` on the real ERA5 fixture (`tm_weather.world.era5_fit`, frozen here and checked
by the tests), `literature` (with the reference), and `assumed` (a choice of the world, said so).
Units: K, m, km, hours, degrees.
"""

from __future__ import annotations

from tm_weather.world.era5_fit import Era5Fit

#: Fitted on tests/data/era5/era5_t2m_uk_2019-03-01_21.grib by `fit_era5` (tests check it still gives these).
ERA5_FIT = Era5Fit(
    mean_lat=54.0,
    mean_t2m=280.6096,
    march_mid_doy=70.0,
    warming_rate=0.05922,
    annual_amplitude=4.542,
    diurnal_shape=(
        -0.3053, -0.3459, -0.3785, -0.3945, -0.3982, -0.3952, -0.3936, -0.3663, -0.2317, -0.0125, 0.2057, 0.3786,
        0.5085, 0.5806, 0.6018, 0.5647, 0.4721, 0.3326, 0.1575, 0.0252, -0.0548, -0.1276, -0.1865, -0.2368,
    ),
    land_diurnal_range=3.2446,
    sea_diurnal_range=0.8894,
    ar1_daily=0.4062,
    sd_daily=1.4015,
    corr_length_km=763.7,
)

# --- climate --------------------------------------------------------------------------------------------------
#: The climate term is ERA5's 2016-2025 monthly-mean T2M at the place, smooth in time (`tm_weather.climatology`).
#: The diurnal range is the fitted one (ERA5_FIT.land_diurnal_range, March at 54 N) times factors:
#: - latitude and season: noon sun height relative to the fit's, clipped to these bounds (assumed bounds);
DIURNAL_FACTOR_RANGE = (0.3, 2.5)
#: - continentality: (annual half-range of the climatology at the place / at the fit's place) ** this exponent,
#:   clipped (literature: the diurnal range grows with continentality, Conrad 1946, Trans. AGU 27:663-664, whose
#:   index is built on the annual range; exponent and clip assumed);
CONTINENTALITY_EXPONENT = 0.35
CONTINENTALITY_CLIP = (0.7, 1.6)
#: - aridity: dry surfaces and clear skies widen the diurnal range (Dai, Trenberth and Karl 1999, J. Climate
#:   12:2451-2473: DTR falls with cloud cover and soil moisture, up to about twice as large in deserts); factor per
#:   climate class of the region (sizes assumed within their range);
ARIDITY_FACTOR = {"arid": 1.8, "mountain": 1.2, "tropical": 0.8, "coast": 0.8}
#: - snow: snow cover damps the diurnal range (its albedo and insulation; Mote 2008, see SNOW_K); factor at full
#:   snow cover (size assumed).
SNOW_DIURNAL_FACTOR = 0.6
#: The fit's longitude (deg E): the place whose climatology normalises the continentality factor (with mean_lat).
FIT_LON = -4.0

# --- climate classes of the regions (tm_weather.world.anchors) ---------------------------------------------------
#: assumed: land-cover class shares (water, trees, flooded vegetation, crops, built, bare, rangeland: the order
#: of STATIC_CLASSES) and the sd of the small-scale relief (m) of each class of region.
CLIMATE_CLASSES = {
    "tropical": dict(shares=(0.06, 0.45, 0.04, 0.20, 0.07, 0.03, 0.15), relief_m=40.0),
    "arid": dict(shares=(0.02, 0.01, 0.005, 0.06, 0.06, 0.55, 0.30), relief_m=60.0),
    "temperate": dict(shares=(0.06, 0.25, 0.01, 0.35, 0.10, 0.03, 0.20), relief_m=40.0),
    "boreal": dict(shares=(0.15, 0.55, 0.05, 0.05, 0.04, 0.04, 0.12), relief_m=30.0),
    "mountain": dict(shares=(0.04, 0.30, 0.01, 0.10, 0.05, 0.25, 0.25), relief_m=250.0),
    "coast": dict(shares=(0.30, 0.15, 0.02, 0.20, 0.15, 0.04, 0.14), relief_m=30.0),
    "city": dict(shares=(0.06, 0.12, 0.01, 0.10, 0.50, 0.05, 0.16), relief_m=25.0),
}

# --- terrain ---------------------------------------------------------------------------------------------------
#: literature: ICAO standard atmosphere lapse rate, K per m (ICAO 1993, Doc 7488; near-surface lapse rates
#: measured over complex terrain are of this size on average, weaker at night: Minder, Mote and Lundquist 2010,
#: J. Geophys. Res. 115, D14122).
LAPSE_RATE = -0.0065
#: assumed: terrain = the region's height + large-scale (what ERA5 and GFS resolve) + small-scale relief (sd from
#: the region's class); amplitude grows with wavelength (hurst 1).
TERRAIN_LARGE = dict(sd=100.0, wavelength_km=(40.0, 400.0), hurst=1.0)
TERRAIN_SMALL_KM = (0.2, 20.0)
#: assumed: heights below this (m) are pressed smoothly towards 0 (h -> floor x exp((h - floor) / floor)).
TERRAIN_FLOOR_M = 30.0
#: literature: night-time cold-air pooling in hollows and valleys, several K below the slopes around them on clear,
#: calm nights (Whiteman 2000, Mountain Meteorology, Oxford Univ. Press; Lundquist, Pepin and Rochford 2008,
#: J. Geophys. Res. 113, D22107; Dobrowski 2011, Global Change Biol. 17:1022-1035). Pooling index = depth below
#: the surroundings (the DEM smoothed with a Gaussian of POOL_SURROUNDINGS_M) / POOL_DEPTH_M, clipped to 0..1;
#: K at full depth and the pre-dawn minimum (size literature, depth scale assumed).
POOL_K = -3.0
POOL_SURROUNDINGS_M = 400.0
POOL_DEPTH_M = 15.0

# --- land cover (classes of the real LULC tiles: ESRI 10 m renumbered 1-9) -----------------------------------
WATER, TREES, FLOODED, CROPS, BUILT, BARE, SNOW, CLOUDS, RANGELAND = 1, 2, 3, 4, 5, 6, 7, 8, 9
#: Classes drawn from the landscape (snow is laid over them by temperature; clouds only in S-2 and SCL).
STATIC_CLASSES = (WATER, TREES, FLOODED, CROPS, BUILT, BARE, RANGELAND)
#: Vegetated classes, whose spectra follow the season (GROWING_SEASON_K).
VEGETATED = (TREES, FLOODED, CROPS, RANGELAND)
#: assumed: land-cover patches have wavelengths 0.2 .. 20 km; sd of each class's random field (log-share units).
COVER_FIELD = dict(sd=2.0, wavelength_km=(0.2, 20.0))
#: fitted: water damps the diurnal cycle to this fraction (ERA5 sea / land diurnal range).
WATER_DIURNAL_RATIO = ERA5_FIT.water_damping
#: literature: water's heat capacity delays its seasonal cycle by about a month (lakes warm the air in autumn and
#: cool it in spring: Samuelsson, Kourzeneva and Mironov 2010, Boreal Env. Res. 15:113-129); assumed: air over water
#: follows the cycle this many days late, by this weight.
WATER_LAG_DAYS = 30.0
WATER_LAG_WEIGHT = 0.5
#: literature: the sea or lake breeze carries water's damping inland over a few km (Miller, Keim, Talbot and Ross
#: 2003, Rev. Geophys. 41, 1011); coast term = land share x water share smoothed with a Gaussian of
#: COAST_SCALE_M x COAST_WEIGHT x the water term's per-share size (scale literature, weight assumed).
COAST_SCALE_M = 1000.0
COAST_WEIGHT = 0.5
#: literature: nocturnal urban heat island of a few K, largest on clear nights in large cities (Oke 1982, QJRMS
#: 108:1-24); K at the night-time peak.
URBAN_NIGHT_K = 3.0
#: literature: forest cooler by day, warmer by night, about 1 K (Lee et al. 2011, Nature 479:384-387); K at peaks.
FOREST_DAY_K = -1.0
FOREST_NIGHT_K = 0.5
#: literature: dry bare soil turns its sunshine into sensible heat (high Bowen ratio) and warms the air by day
#: (Oke 1987, Boundary Layer Climates, 2nd ed., Routledge); K at the afternoon peak (size assumed).
BARE_DAY_K = 1.5
#: literature: snow cover depresses T2M by several K (Mote 2008, J. Appl. Meteor. Climatol. 47:2008-2022); K.
SNOW_K = -3.0
#: assumed: snow lies where the day's climate at the point's height plus a patchy field (sd, K) is below freezing.
SNOW_THRESHOLD_K = 273.15
SNOW_FIELD = dict(sd=1.5, wavelength_km=(0.3, 20.0))
#: literature: forest canopies hide most of the snow beneath them from a satellite (snow-covered boreal forest
#: reflects 0.2-0.3 in the visible against 0.8 for open snow: Klein, Hall and Riggs 1998, Hydrol. Process.
#: 12:1723-1744), and towns show their roofs, walls and cleared streets through it; share of a snow-covered pixel of
#: each class that Sentinel-2 still sees as that class (the rest is snow; trees from those figures, built assumed).
#: Open classes and frozen water are covered whole.
SNOW_VISIBLE_SHARE = {TREES: 0.7, BUILT: 0.5}
#: literature: the thermal growing season is where the mean temperature exceeds 5 C (Frich et al. 2002, Climate
#: Research 19:193-212, index GSL); vegetation greens from GROWING_SEASON_K over GREENING_RANGE_K (assumed).
GROWING_SEASON_K = 278.15
GREENING_RANGE_K = 10.0
#: literature: the air mixes surface contrasts over a blending distance of tens to hundreds of metres (Mahrt 2000,
#: Boundary-Layer Meteorol. 96:33-62); the land-cover and pooling terms are smoothed with a Gaussian of this sigma.
MIXING_M = 100.0

# --- weather ---------------------------------------------------------------------------------------------------
#: fitted: synoptic anomalies, AR(1) per day (ERA5_FIT.ar1_daily, sd_daily) at 00Z nodes, linear in between,
#: with the spatial scale corr_length_km; this many waves (x2, cos and sin).
SYNOPTIC_WAVES = 24
#: assumed: day-to-day variability scales with sin|lat| relative to the fit's latitude (small in the tropics,
#: large at high latitudes), clipped to these bounds.
SYNOPTIC_LAT_CLIP = (0.3, 1.3)
#: assumed: unresolved noise of a 40 m truth cell (K, AR(1) over hours with this correlation, smoothed like the
#: land-cover terms), and the error of a station report (K, white).
CELL_NOISE_K = 0.15
CELL_NOISE_AR1 = 0.8
STATION_NOISE_K = 0.2

# --- GFS ---------------------------------------------------------------------------------------------------------
GFS_RESOLUTION_DEG = 0.25
GFS_CYCLES = (0, 6, 12, 18)
GFS_LEADS = tuple(range(13))
#: The runs of the day before a visit that reach into its first hours (f006..f012 of 12Z and 18Z).
GFS_PREVIOUS_DAY_CYCLES = (12, 18)
#: assumed, order of GFS's 2 m temperature verification: error sd (K) = analysis + growth * lead (hours),
#: spatially smooth (wavelengths in km), AR(1) over lead hours with this correlation.
GFS_ERROR_ANALYSIS_K = 0.6
GFS_ERROR_GROWTH_K_PER_H = 0.1
GFS_ERROR_FIELD_KM = (300.0, 1500.0)
GFS_ERROR_LEAD_AR1 = 0.9
#: Sub-samples per 0.25 deg GFS cell side used to give GFS its grid-scale land cover, snow and orography.
GFS_SUBSAMPLES = 6
#: literature: model orography is smoother than the real terrain (Sheridan, Smith, Brown and Vosper 2010,
#: Meteorol. Appl. 17:329-339, who correct for it by height): GFS's HGT is the cell-mean height smoothed over
#: this many cells (a box), and its T2M belongs to that height.
GFS_OROGRAPHY_BOX = 3
#: literature: GFS's land surface is too cold by day over dry land (Zheng et al. 2012, J. Geophys. Res. 117,
#: D06117), i.e. too weak a diurnal cycle; assumed: its diurnal amplitude is this fraction too small everywhere.
GFS_DIURNAL_AMPLITUDE_ERROR = -0.2
#: assumed: over snow GFS's 2 m temperature misses part of the snow's cooling (K per snow share).
GFS_SNOW_BIAS_K = 1.0
#: GFS sees land cover, snow and water only as each 0.25 deg cell's shares (coasts smeared over the cell), and has
#: no cold-air pools: those are its coast and sub-grid errors, with no parameter of their own.

# --- truth grid ---------------------------------------------------------------------------------------------------
#: Truth on each tile's own UTM grid: cells of this size (m), reaching this many cells beyond the tile on each
#: side (so that every tile pixel lies inside it), each the mean of sub-samples at the S-2 10 m pixels.
TRUTH_PIXEL_M = 40.0
TRUTH_MARGIN_CELLS = 2
