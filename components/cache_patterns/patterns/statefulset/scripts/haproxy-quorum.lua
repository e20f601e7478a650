-- Loaded by haproxy.cfg (cache-patterns). The `use-server` rules give a NEW write connection only to a
-- server that reports role:master and that a majority of all Sentinels name, but HAProxy applies them
-- when a connection starts, never again. This task closes the connections already open to a server
-- as soon as that majority is gone: a partition cut this HAProxy off from most Sentinels, or they
-- elected another primary. Without it, a client beside a partitioned old primary keeps writing into it
-- (and has every write acknowledged) until min-replicas-max-lag stops it, and all of it is lost when
-- the old primary rejoins as a replica.
--
-- It reads everything from the configuration: backend `primary` holds the servers (rN), and for each
-- a backend `named-rN` holds one server per Sentinel, up while that Sentinel names rN. Lua 5.3+.

local PERIOD_MS = 100

local function naming(backend)
    local up, all = 0, 0
    for _, sentinel in pairs(backend.servers) do
        all = all + 1
        -- "UP", or "UP 1/2" while going down with fall > 1: still up.
        if string.sub(sentinel:get_stats()["status"], 1, 2) == "UP" then
            up = up + 1
        end
    end
    return up, all
end

core.register_task(function()
    while true do
        for name, server in pairs(core.backends["primary"].servers) do
            local named = core.backends["named-" .. name]
            if named ~= nil then
                local up, all = naming(named)
                if up < all // 2 + 1 and tonumber(server:get_stats()["scur"]) > 0 then
                    core.Warning(string.format("cache-patterns: closing the write connections to %s: %d of %d "
                                               .. "Sentinels name it, a majority is %d", name, up, all, all // 2 + 1))
                    server:shut_sess()
                end
            end
        end
        core.msleep(PERIOD_MS)
    end
end)
