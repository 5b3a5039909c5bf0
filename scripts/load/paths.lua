-- GET a list of paths in turn, one a line in the file named by the script's first argument
-- (wrk ... -s scripts/load/paths.lua URL -- FILE), so that a page is measured over many patients
-- or weeks rather than the same row again and again. Each thread starts at its own place in the list.
dofile("scripts/load/report.lua")

local report_init = init
local paths = {}
local next_path = 0

function init(args)
  report_init(args)
  for line in io.lines(args[1]) do
    if line ~= "" then
      table.insert(paths, line)
    end
  end
  assert(#paths > 0, "no paths in " .. args[1])
  next_path = math.random(#paths)
end

function request()
  next_path = next_path % #paths + 1
  return wrk.format(nil, paths[next_path])
end
