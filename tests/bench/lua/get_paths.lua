-- wrk: GET paths drawn at random from a file (one path a line), and count answers by status.
-- The harness appends report.lua to this script.
-- Arguments after "--": API key ("-" for none) and the file of paths.
threads = {}
local count = 0

function setup(thread)
  count = count + 1
  thread:set("tid", count)
  table.insert(threads, thread)
end

function init(args)
  local key = args[1] ~= "-" and args[1] or nil
  paths = {}
  for line in io.lines(args[2]) do table.insert(paths, line) end
  math.randomseed(tid * 7919)
  statuses = {}
  headers = {}
  if key then headers["apikey"] = key end
end

function request()
  return wrk.format("GET", paths[math.random(#paths)], headers)
end

function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end

