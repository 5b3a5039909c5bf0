from datetime import date

# The fixtures these tests use (frozen_today, dm_indication, dm_patient, make_order) live in the
# root conftest.py so every app's tests share them; TODAY is the date they freeze.
TODAY = date(2026, 11, 22)
