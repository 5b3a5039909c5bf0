-- POST /api/v1/dose-plans/calculate with the README's worked example (Octagam 10 %,
-- dermatomyositis, 70 kg, 170 cm, female, 2 g/kg over 2 days → 70 g a day).
-- The bearer token comes from wrk's -H "Authorization: Bearer ..." (not stored here).
dofile("scripts/load/report.lua")

wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"product": "octagam-10", "indication": "dermatomyositis", "weight_kg": 70, ' ..
  '"height_cm": 170, "sex": "female", "dose_g_per_kg": 2, "days": 2}'
