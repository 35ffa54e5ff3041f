-- wrk script: one JSON lead per request, shaped like real traffic: random
-- email addresses (so the dedupe index is hit at random, not in sequence),
-- names, companies and budgets over a wide spread, UTM on about half, a long
-- message on some, and about 3% repeats of an address seen earlier (real
-- duplicates). Counts 201 answers so the runner can compare with the
-- database.
local threads = {}
local counter = 0

function setup(thread)
   counter = counter + 1
   thread:set("tid", counter)
   table.insert(threads, thread)
end

local FIRST = {"Ada", "Grace", "Alan", "Linus", "Margaret", "Dennis", "Barbara", "Ken", "Frances",
               "John", "Radia", "Edsger", "Sophie", "Tim", "Katherine", "Niklaus", "Zoë", "José"}
local LAST = {"Lovelace", "Hopper", "Turing", "Torvalds", "Hamilton", "Ritchie", "Liskov",
              "Thompson", "Allen", "McCarthy", "Perlman", "Dijkstra", "Wilson", "Berners-Lee",
              "Johnson", "Wirth", "Müller", "García"}
local DOMAINS = {"gmail.com", "yahoo.com", "outlook.com", "acme.example", "initech.example",
                 "globex.example", "umbrella.example", "hooli.example", "stark.example",
                 "wayne.example", "tyrell.example", "cyberdyne.example"}
local COMPANIES = {"Acme", "Initech", "Globex", "Umbrella", "Hooli", "Stark Industries",
                   "Wayne Enterprises", "Tyrell", "Cyberdyne", "Soylent", "Vandelay", "Wonka"}
local SOURCES = {"google", "bing", "linkedin", "newsletter", "facebook", "partner"}
local CAMPAIGNS = {"spring", "summer", "brand", "retargeting", "webinar", "launch"}
local MEDIUMS = {"cpc", "email", "social", "referral"}
local CHARS = "abcdefghijklmnopqrstuvwxyz0123456789"

local function pick(t) return t[math.random(#t)] end

local function word(n)
   local s = {}
   for i = 1, n do
      local k = math.random(#CHARS)
      s[i] = CHARS:sub(k, k)
   end
   return table.concat(s)
end

function init(args)
   tag = args[1] or "run"
   -- A different random sequence for each thread and run.
   math.randomseed(os.time() * 1000 + tid * 7919 + #tag)
   created = 0
   recent = {}
end

function request()
   local email
   if #recent > 10 and math.random() < 0.03 then
      email = recent[math.random(#recent)] -- a repeat: a real duplicate
   else
      email = word(math.random(5, 12)) .. "." .. word(math.random(3, 8)) .. "@" .. pick(DOMAINS)
      recent[(#recent % 1000) + 1] = email
   end
   local parts = {
      string.format('"email":"%s","name":"%s %s","consent":true,"_elapsed_ms":%d', email,
                    pick(FIRST), pick(LAST), math.random(2000, 90000))
   }
   if math.random() < 0.7 then
      parts[#parts + 1] = string.format('"company":"%s"', pick(COMPANIES))
   end
   if math.random() < 0.8 then
      -- budgets from about 100 to 500,000, more small than large
      parts[#parts + 1] = string.format('"budget":%d', math.floor(10 ^ (2 + math.random() * 3.7)))
   end
   if math.random() < 0.5 then
      parts[#parts + 1] = string.format('"utm_source":"%s","utm_medium":"%s","utm_campaign":"%s"',
                                        pick(SOURCES), pick(MEDIUMS), pick(CAMPAIGNS))
   end
   if math.random() < 0.4 then
      parts[#parts + 1] = '"message":"We would like a demo of the product next week, ' ..
                          'and a quote for ' .. math.random(5, 500) .. ' seats."'
   end
   local body = "{" .. table.concat(parts, ",") .. "}"
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
