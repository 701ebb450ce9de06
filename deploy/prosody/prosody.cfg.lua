-- Prosody for docker-compose.yml's `prosody` profile: the same target as `starling server up` (WebSocket and
-- BOSH on one HTTP port, no TLS, no rate limits), listening on 127.0.0.1 only. Accounts user{n}/pass{n} are
-- written by entrypoint.sh. ENV_STARLING_* come from the environment (Prosody 0.12 reads ENV_ variables).
run_as_root = ENV_STARLING_RUN_AS_ROOT == "1"
pidfile = (ENV_STARLING_DATA or "/var/lib/prosody") .. "/prosody.pid"
data_path = ENV_STARLING_DATA or "/var/lib/prosody"
log = { { levels = { min = "warn" }, to = "console" } }

network_backend = "epoll"
network_settings = { tcp_backlog = 4096 }
use_ipv6 = false
interfaces = { "127.0.0.1" }
local_interfaces = { "127.0.0.1" }
c2s_ports = { ENV_STARLING_C2S_PORT or 5222 }
c2s_interfaces = { "127.0.0.1" }
c2s_direct_tls_ports = { }
s2s_ports = { }
component_ports = { }
http_ports = { ENV_STARLING_HTTP_PORT or 5280 }
http_interfaces = { "127.0.0.1" }
https_ports = { }
http_default_host = "localhost"

-- Plain-text account files: entrypoint.sh writes thousands in a second; SCRAM-SHA-1 and PLAIN both work.
authentication = "internal_plain"
storage = "internal"
c2s_require_encryption = false
s2s_require_encryption = false
allow_unencrypted_plain_auth = true
consider_websocket_secure = true
consider_bosh_secure = true
bosh_max_inactivity = 300

modules_enabled = { "roster", "saslauth", "disco", "ping", "presence", "websocket", "bosh", "time", "version" }
modules_disabled = { "offline", "s2s", "s2s_auth_certs", "dialback", "tls", "limits", "register" }

VirtualHost "localhost"
