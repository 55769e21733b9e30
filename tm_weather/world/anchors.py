"""Region anchors: real inhabited places over every climate, around which the world's tile locations are drawn.

Each anchor: (name, lat, lon, approximate height of the surroundings in m, climate class). The class chooses the
landscape's land-cover shares and relief (`constants.CLIMATE_CLASSES`); the climate itself comes from ERA5's
monthly climatology at the place (`tm_weather.climatology`). Coordinates and heights are approximate (0.1 deg,
tens of metres): they only place the regions.
"""

from __future__ import annotations

ANCHORS: tuple[tuple[str, float, float, float, str], ...] = (
    # tropics (humid)
    ("manaus", -3.1, -60.0, 90, "tropical"), ("belem", -1.4, -48.5, 20, "tropical"),
    ("iquitos", -3.7, -73.3, 100, "tropical"), ("bogota-llanos", 4.1, -73.6, 450, "tropical"),
    ("panama", 9.0, -79.5, 50, "tropical"), ("san-jose-cr", 10.0, -84.1, 1150, "mountain"),
    ("lagos", 6.5, 3.4, 40, "city"), ("kinshasa", -4.3, 15.3, 300, "city"),
    ("kisangani", 0.5, 25.2, 400, "tropical"), ("douala", 4.05, 9.7, 20, "coast"),
    ("kampala", 0.35, 32.6, 1200, "tropical"), ("dar-es-salaam", -6.8, 39.2, 30, "coast"),
    ("morogoro", -6.8, 37.7, 520, "tropical"), ("antananarivo", -18.9, 47.5, 1280, "mountain"),
    ("colombo", 6.9, 79.9, 10, "coast"), ("kochi", 9.95, 76.3, 10, "coast"), ("dhaka", 23.8, 90.4, 10, "city"),
    ("bangkok", 13.75, 100.5, 5, "city"), ("ho-chi-minh", 10.8, 106.7, 10, "city"),
    ("kuala-lumpur", 3.15, 101.7, 60, "city"), ("singapore", 1.35, 103.8, 20, "coast"),
    ("pontianak", -0.03, 109.3, 5, "tropical"), ("jakarta", -6.2, 106.8, 10, "city"),
    ("manila", 14.6, 121.0, 10, "city"), ("darwin", -12.45, 130.85, 30, "tropical"),
    ("cairns", -16.9, 145.75, 10, "coast"), ("port-moresby", -9.45, 147.2, 40, "coast"),
    ("recife", -8.05, -34.9, 10, "coast"), ("salvador", -12.97, -38.5, 20, "coast"),
    ("havana", 23.1, -82.4, 30, "coast"), ("merida-mx", 20.97, -89.6, 10, "tropical"),
    ("mumbai", 19.1, 72.9, 10, "city"), ("kolkata", 22.6, 88.4, 10, "city"), ("honolulu", 21.3, -157.85, 20, "coast"),
    ("abidjan", 5.35, -4.0, 20, "coast"), ("accra", 5.6, -0.2, 60, "coast"),
    # savanna, monsoon and dry tropics
    ("bamako", 12.65, -8.0, 350, "tropical"), ("kano", 12.0, 8.5, 480, "arid"), ("ndjamena", 12.1, 15.05, 300, "arid"),
    ("khartoum", 15.6, 32.5, 380, "arid"), ("addis-ababa", 9.0, 38.75, 2350, "mountain"),
    ("nairobi", -1.3, 36.8, 1700, "mountain"), ("lusaka", -15.4, 28.3, 1280, "tropical"),
    ("harare", -17.8, 31.05, 1490, "tropical"), ("brasilia", -15.8, -47.9, 1100, "tropical"),
    ("cuiaba", -15.6, -56.1, 170, "tropical"), ("nagpur", 21.15, 79.1, 310, "tropical"),
    ("hyderabad", 17.4, 78.5, 540, "city"),
    # deserts and steppes
    ("riyadh", 24.7, 46.7, 610, "arid"), ("dubai", 25.2, 55.3, 10, "arid"), ("cairo", 30.05, 31.25, 30, "city"),
    ("aswan", 24.1, 32.9, 100, "arid"), ("tamanrasset", 22.8, 5.5, 1380, "arid"), ("nouakchott", 18.1, -15.95, 10, "arid"),
    ("timbuktu", 16.77, -3.0, 260, "arid"), ("phoenix", 33.45, -112.05, 340, "arid"), ("las-vegas", 36.15, -115.15, 620, "arid"),
    ("el-paso", 31.8, -106.45, 1150, "arid"), ("alice-springs", -23.7, 133.9, 550, "arid"), ("kalgoorlie", -30.75, 121.45, 370, "arid"),
    ("windhoek", -22.55, 17.1, 1650, "arid"), ("upington", -28.4, 21.25, 830, "arid"), ("calama", -22.45, -68.9, 2260, "arid"),
    ("mendoza", -32.9, -68.85, 750, "arid"), ("tehran", 35.7, 51.4, 1200, "city"), ("kabul", 34.55, 69.2, 1790, "mountain"),
    ("ulaanbaatar", 47.9, 106.9, 1350, "arid"), ("urumqi", 43.8, 87.6, 800, "arid"), ("tashkent", 41.3, 69.25, 450, "arid"),
    ("karachi", 24.85, 67.0, 10, "city"), ("jodhpur", 26.3, 73.0, 230, "arid"), ("baghdad", 33.3, 44.4, 40, "city"),
    # mid-latitudes
    ("london", 51.5, -0.1, 30, "city"), ("paris", 48.85, 2.35, 40, "city"), ("bordeaux", 44.85, -0.6, 20, "temperate"),
    ("munich", 48.15, 11.55, 520, "temperate"), ("berlin", 52.5, 13.4, 40, "city"), ("warsaw", 52.25, 21.0, 100, "temperate"),
    ("kyiv", 50.45, 30.5, 170, "temperate"), ("moscow", 55.75, 37.6, 150, "city"), ("kazan", 55.8, 49.1, 100, "temperate"),
    ("madrid", 40.4, -3.7, 650, "city"), ("seville", 37.4, -6.0, 20, "temperate"), ("rome", 41.9, 12.5, 30, "city"),
    ("athens", 37.95, 23.7, 100, "coast"), ("istanbul", 41.0, 28.95, 50, "coast"), ("ankara", 39.95, 32.85, 900, "temperate"),
    ("north-jutland", 57.25, 10.05, 20, "coast"), ("dublin", 53.35, -6.25, 20, "coast"), ("bergen", 60.4, 5.3, 20, "coast"),
    ("chicago", 41.85, -87.65, 180, "city"), ("des-moines", 41.6, -93.6, 270, "temperate"),
    ("kansas-city", 39.1, -94.6, 270, "temperate"), ("atlanta", 33.75, -84.4, 300, "city"), ("new-york", 40.7, -74.0, 10, "city"),
    ("seattle", 47.6, -122.3, 50, "coast"), ("san-francisco", 37.75, -122.4, 20, "coast"), ("denver", 39.75, -104.95, 1600, "temperate"),
    ("toronto", 43.7, -79.4, 100, "city"), ("montreal", 45.5, -73.55, 40, "city"), ("beijing", 39.9, 116.4, 50, "city"),
    ("shanghai", 31.2, 121.45, 5, "city"), ("wuhan", 30.6, 114.3, 30, "city"), ("seoul", 37.55, 126.95, 40, "city"),
    ("tokyo", 35.7, 139.7, 40, "city"), ("sapporo", 43.05, 141.35, 20, "temperate"), ("harbin", 45.75, 126.65, 150, "temperate"),
    ("buenos-aires", -34.6, -58.4, 20, "city"), ("rosario", -32.95, -60.65, 30, "temperate"), ("montevideo", -34.9, -56.15, 20, "coast"),
    ("santiago", -33.45, -70.65, 550, "city"), ("araucania", -38.95, -72.6, 150, "temperate"), ("parana-coast", -25.5, -48.5, 10, "coast"),
    ("sao-paulo", -23.55, -46.65, 760, "city"), ("porto-alegre", -30.05, -51.2, 10, "temperate"),
    ("cape-town", -33.9, 18.45, 20, "coast"), ("johannesburg", -26.2, 28.05, 1750, "city"), ("perth", -31.95, 115.85, 20, "coast"),
    ("adelaide", -34.9, 138.6, 50, "temperate"), ("melbourne", -37.8, 144.95, 30, "city"), ("sydney", -33.85, 151.2, 30, "city"),
    ("canberra", -35.3, 149.1, 580, "temperate"), ("hobart", -42.9, 147.3, 50, "coast"), ("christchurch", -43.5, 172.6, 20, "temperate"),
    ("auckland", -36.85, 174.75, 30, "coast"), ("dunedin", -45.85, 170.5, 50, "coast"), ("punta-arenas", -53.15, -70.9, 30, "coast"),
    ("rio-gallegos", -51.6, -69.2, 20, "arid"), ("bariloche", -41.15, -71.3, 900, "mountain"),
    # boreal and subarctic
    ("oulu", 65.0, 25.45, 20, "boreal"), ("kiruna", 67.85, 20.25, 500, "boreal"), ("tromso", 69.65, 18.95, 20, "coast"),
    ("arkhangelsk", 64.55, 40.55, 10, "boreal"), ("syktyvkar", 61.65, 50.8, 120, "boreal"), ("surgut", 61.25, 73.4, 50, "boreal"),
    ("krasnoyarsk", 56.0, 92.9, 200, "boreal"), ("irkutsk", 52.3, 104.3, 450, "boreal"), ("yakutsk", 62.0, 129.7, 100, "boreal"),
    ("magadan", 59.55, 150.8, 50, "coast"), ("fairbanks", 64.85, -147.7, 140, "boreal"), ("anchorage", 61.2, -149.9, 40, "coast"),
    ("whitehorse", 60.7, -135.05, 650, "boreal"), ("yellowknife", 62.45, -114.35, 200, "boreal"), ("hudson-bay", 52.95, -85.95, 100, "boreal"),
    ("thompson", 55.75, -97.85, 200, "boreal"), ("iqaluit", 63.75, -68.5, 30, "coast"), ("nuuk", 64.2, -51.7, 20, "coast"),
    ("reykjavik", 64.15, -21.95, 20, "coast"), ("norilsk", 69.35, 88.2, 90, "boreal"), ("murmansk", 68.95, 33.1, 50, "boreal"),
    # high mountains
    ("la-paz", -16.5, -68.15, 3650, "mountain"), ("cusco", -13.5, -71.95, 3400, "mountain"), ("quito", -0.2, -78.5, 2800, "mountain"),
    ("lhasa", 29.65, 91.1, 3650, "mountain"), ("leh", 34.15, 77.6, 3500, "mountain"), ("kathmandu", 27.7, 85.3, 1350, "mountain"),
    ("innsbruck", 47.25, 11.4, 600, "mountain"), ("chamonix", 45.9, 6.85, 1050, "mountain"), ("davos", 46.8, 9.85, 1550, "mountain"),
    ("boulder-co", 40.0, -105.3, 1650, "mountain"), ("aspen", 39.2, -106.8, 2400, "mountain"), ("mexico-city", 19.4, -99.15, 2240, "city"),
    ("xining", 36.6, 101.8, 2250, "mountain"), ("bishkek", 42.85, 74.6, 800, "mountain"), ("tbilisi", 41.7, 44.8, 500, "mountain"),
)
