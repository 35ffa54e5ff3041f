-- wrk script: one JSON lead per request, a different email each time, and a
-- count of 201 answers so the runner can compare it with the database.
local threads = {}
local counter = 0

function setup(thread)
   counter = counter + 1
   thread:set("tid", counter)
   table.insert(threads, thread)
end

function init(args)
   tag = args[1] or "run"
   n = 0
   created = 0
end

function request()
   n = n + 1
   local body = string.format('{"email":"%s-%d-%d@bench.example","name":"Bench Lead",' ..
      '"company":"Acme","budget":5000,"consent":true,"_elapsed_ms":5000,' ..
      '"utm_source":"google","message":"We would like a demo of the product next week."}',
      tag, tid, n)
   return wrk.format("POST", "/v1/forms/contact/submissions",
                     {["Content-Type"] = "application/json"}, body)
end

function response(status, headers, body)
   if status == 201 then created = created + 1 end
end

function done(summary, latency, requests)
   local total = 0
   for _, t in ipairs(threads) do total = total + t:get("created") end
   io.write(string.format("CREATED %d\n", total))
   io.write(string.format("REQUESTS %d\n", summary.requests))
   io.write(string.format("RPS %.1f\n", summary.requests / (summary.duration / 1e6)))
   io.write(string.format("P50 %.3f\n", latency:percentile(50) / 1000))
   io.write(string.format("P99 %.3f\n", latency:percentile(99) / 1000))
   io.write(string.format("ERRORS %d\n", summary.errors.connect + summary.errors.read +
      summary.errors.write + summary.errors.status + summary.errors.timeout))
end
