-- publish.lua: wrk script for bench/publish/run.sh. Each request publishes
-- one advisory (POST /v1/advisories, one transaction in tocsind); counts
-- the 201 answers, so refusals never count as throughput.
-- Environment: TOCSIN_TOKEN (a publisher's token), ADVISORY_FILE (JSON).
local f = assert(io.open(os.getenv("ADVISORY_FILE"), "r"))
local body = f:read("*a")
f:close()

wrk.method = "POST"
wrk.body = body
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. os.getenv("TOCSIN_TOKEN")

local threads = {}

function setup(thread)
	table.insert(threads, thread)
end

function init(args)
	created = 0
	refused = 0
end

function response(status, headers, body)
	if status == 201 then
		created = created + 1
	else
		refused = refused + 1
		if refused <= 3 then
			io.stderr:write("publish.lua: HTTP " .. status .. ": " ..
			    body .. "\n")
		end
	end
end

function done(summary, latency, requests)
	local c, r = 0, 0
	for _, t in ipairs(threads) do
		c = c + t:get("created")
		r = r + t:get("refused")
	end
	io.write(string.format("WRK created=%d refused=%d errors=%d " ..
	    "duration_us=%d p50_us=%d p99_us=%d\n", c, r,
	    summary.errors.connect + summary.errors.read + summary.errors.write +
	    summary.errors.timeout, summary.duration,
	    latency:percentile(50), latency:percentile(99)))
end
