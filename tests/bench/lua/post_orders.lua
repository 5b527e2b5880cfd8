-- wrk: POST a create-order body with a unique orderId per request, and count answers by status.
-- The harness appends report.lua to this script.
-- Arguments after "--": API key ("-" for none), a prefix unique to this run, the path, and the body
-- template (JSON with one %s where the orderId goes).
local counter = 0
threads = {}
local count = 0

function setup(thread)
  count = count + 1
  thread:set("tid", count)
  table.insert(threads, thread)
end

function init(args)
  key = args[1] ~= "-" and args[1] or nil
  prefix = args[2] .. "-" .. tid
  path = args[3]
  template = args[4]
  statuses = {}
  headers = {["Content-Type"] = "application/json"}
  if key then headers["apikey"] = key end
end

function request()
  counter = counter + 1
  return wrk.format("POST", path, headers, string.format(template, prefix .. "-" .. counter))
end

function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end

