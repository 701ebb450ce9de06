-- mod_bench_counters: what the server saw each load generator do, so a benchmark can prove every session
-- ran the whole flow (bench/standard-flow.ts). Counts, for the one VirtualHost it is enabled on:
--
--   c2s_opened        client sessions opened (TCP, WebSocket or BOSH), before authentication
--   auth_success      SASL successes ("authentication-success", mod_saslauth)
--   auth_failure      SASL failures ("authentication-failure")
--   resource_bind     resources bound ("resource-bind", core.sessionmanager)
--   users_distinct    of those, distinct accounts (fewer: an account logged in again, and with the same resource
--                     that kicks its previous session out with a conflict, counted unclean)
--   initial_presence  a bound session's first available presence with no 'to' ("pre-presence/bare")
--   chat_sent         type='chat' messages from a local client to a bare JID ("pre-message/bare"), its own
--                     bare JID included (chat_to_self of them)
--   chat_body_chars   the characters of their bodies (÷ chat_sent = the body size the generator sent)
--   chat_body_foreign of those, whose <body/> is not in jabber:client (a stanza in a BOSH <body/> that does not
--                     declare xmlns='jabber:client' takes the httpbind namespace down to its children)
--   chat_unavailable  of those, addressed to a user with no available resource when it arrived (no session,
--                     or none has sent presence yet): mod_message bounces it ("message/bare")
--   chat_delivered    type='chat' messages with a body written to a client session ("stanzas/out" filter)
--   errors_out        type='error' stanzas written to a client session (a bounced message among them)
--   unbind_clean      bound sessions that ended because the client closed its stream (WebSocket <close/>,
--                     </stream:stream>, BOSH type='terminate')
--   unbind_unclean    bound sessions that ended any other way (connection dropped, timeout, shutdown);
--                     unbind_reasons tallies them by reason
--   online, peak_online  bound sessions now, and the most at once
--
-- Written as JSON to bench_counters_file (rename from a .tmp, so a reader never sees half a file) every
-- bench_counters_interval seconds (default 0.5) while anything changed, and once more with "final": true
-- when the server stops. Hook names checked against Prosody 0.12's source (/usr/lib/prosody).

local json = require "util.json";
local filters = require "util.filters";
local time_now = require "util.time".now;

if module:get_host_type() ~= "local" then return; end

local out_file = module:get_option_string("bench_counters_file");
if not out_file then
	module:log("error", "bench_counters_file is not set: counting, but writing nothing");
end
local interval = module:get_option_number("bench_counters_interval", 0.5);

local c = {
	c2s_opened = 0,
	auth_success = 0,
	auth_failure = 0,
	resource_bind = 0,
	users_distinct = 0,
	initial_presence = 0,
	chat_sent = 0,
	chat_body_chars = 0,
	chat_body_foreign = 0,
	chat_to_self = 0,
	chat_unavailable = 0,
	chat_delivered = 0,
	errors_out = 0,
	unbind_clean = 0,
	unbind_unclean = 0,
	online = 0,
	peak_online = 0,
};
local unbind_reasons = {};
local seen_users = {};
local dirty = true;

-- The message's <body/>, in jabber:client or else in any namespace, and whether it was in jabber:client.
local function body_of(stanza)
	local body = stanza:get_child("body", "jabber:client") or stanza:get_child("body");
	if body then return body, true; end
	for _, tag in ipairs(stanza.tags) do
		if tag.name == "body" then return tag, false; end
	end
end

local function write(final)
	if not out_file then return; end
	local snapshot = { host = module.host, written_at = time_now(), final = final or false, unbind_reasons = unbind_reasons };
	for k, v in pairs(c) do snapshot[k] = v; end
	local tmp = out_file .. ".tmp";
	local f, err = io.open(tmp, "w");
	if not f then
		module:log("error", "cannot write %s: %s", tmp, err);
		return;
	end
	f:write(json.encode(snapshot), "\n");
	f:close();
	local ok, rename_err = os.rename(tmp, out_file);
	if not ok then module:log("error", "cannot rename %s: %s", tmp, rename_err); end
	dirty = false;
end

module:hook("authentication-success", function() c.auth_success = c.auth_success + 1; dirty = true; end, 1000);
module:hook("authentication-failure", function() c.auth_failure = c.auth_failure + 1; dirty = true; end, 1000);

module:hook("resource-bind", function(event)
	c.resource_bind = c.resource_bind + 1;
	local username = event.session.username;
	if username and not seen_users[username] then
		seen_users[username] = true;
		c.users_distinct = c.users_distinct + 1;
	end
	c.online = c.online + 1;
	if c.online > c.peak_online then c.peak_online = c.online; end
	dirty = true;
end, 1000);

module:hook("resource-unbind", function(event)
	local session, err = event.session, event.error;
	c.online = c.online - 1;
	-- false: the client closed its stream (mod_c2s, mod_websocket: session:close(false)); a BOSH terminate from
	-- the client ends the session with no error and bosh_terminate set.
	if err == false or (err == nil and session.bosh_terminate) then
		c.unbind_clean = c.unbind_clean + 1;
	else
		c.unbind_unclean = c.unbind_unclean + 1;
		local reason = type(err) == "table" and (err.condition or err.text) or tostring(err);
		unbind_reasons[reason] = (unbind_reasons[reason] or 0) + 1;
	end
	dirty = true;
end, 1000);

module:hook("pre-presence/bare", function(event)
	local origin, stanza = event.origin, event.stanza;
	-- Only the session's first available broadcast presence: mod_presence sets origin.presence afterwards.
	if origin.type == "c2s" and stanza.attr.to == nil and stanza.attr.type == nil and not origin.presence then
		c.initial_presence = c.initial_presence + 1;
		dirty = true;
	end
end, 1000);

module:hook("pre-message/bare", function(event)
	local stanza = event.stanza;
	if stanza.attr.type == "chat" then
		c.chat_sent = c.chat_sent + 1;
		if event.to_self then c.chat_to_self = c.chat_to_self + 1; end
		local body, ours = body_of(stanza);
		if body then c.chat_body_chars = c.chat_body_chars + #body:get_text(); end
		if body and not ours then c.chat_body_foreign = c.chat_body_foreign + 1; end
		dirty = true;
	end
end, 1000);

module:hook("message/bare", function(event)
	local stanza = event.stanza;
	if stanza.attr.type == "chat" and event.origin.type == "c2s" then
		-- As mod_message's process_to_bare decides: delivered only to top_resources (available, priority >= 0).
		local to = stanza.attr.to or (event.origin.username .. "@" .. event.origin.host);
		local user = prosody.bare_sessions[to];
		if not (user and user.top_resources) then
			c.chat_unavailable = c.chat_unavailable + 1;
			dirty = true;
		end
	end
end, 1000);

-- One function for every session (filters get the session as their second argument): no closure per session.
local function count_out(stanza, session)
	if session.type == "c2s" and stanza.name then
		local t = stanza.attr.type;
		if stanza.name == "message" and t == "chat" and body_of(stanza) then
			c.chat_delivered = c.chat_delivered + 1;
			dirty = true;
		elseif t == "error" then
			c.errors_out = c.errors_out + 1;
			dirty = true;
		end
	end
	return stanza;
end

local function on_new_session(session)
	if session.type == "c2s_unauthed" and (session.host == nil or session.host == module.host) then
		c.c2s_opened = c.c2s_opened + 1;
		dirty = true;
	end
	-- Low priority: after mod_websocket's own stanzas/out filter (-1000 runs last), what the client gets.
	filters.add_filter(session, "stanzas/out", count_out, -2000);
end

filters.add_filter_hook(on_new_session);

module:add_timer(interval, function()
	if dirty then write(false); end
	return interval;
end);

module:hook_global("server-stopped", function() write(true); end);

function module.unload()
	filters.remove_filter_hook(on_new_session);
	write(true);
end

write(false);
