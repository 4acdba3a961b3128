-- wrk script of bench/run: prints one JSON line when the run ends. An optional script argument
-- (after --) is the pipelining depth: that many requests are written back to back on each
-- connection, and wrk waits for all their answers before writing the next batch.

function init(args)
    local depth = tonumber(args[1]) or 1
    if depth > 1 then
        local batch = string.rep(wrk.format(nil, wrk.path), depth)
        request = function()
            return batch
        end
    end
end

function done(summary, latency, requests)
    local e = summary.errors
    io.write(string.format('{"requests":%d,"duration_us":%d,"bytes":%d,"p50_us":%d,"p99_us":%d,' ..
        '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d}}\n',
        summary.requests, summary.duration, summary.bytes, latency:percentile(50), latency:percentile(99),
        e.connect, e.read, e.write, e.status, e.timeout))
end
