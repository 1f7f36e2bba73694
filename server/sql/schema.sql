-- tickpush database schema (PostgreSQL >= 13; tested with 15).
--
-- Run as a superuser (or the database owner) on an empty database:
--   psql -v ON_ERROR_STOP=1 -d tickpush -f server/sql/schema.sql
-- Re-running it is harmless: every object is created only if missing and
-- the grants are re-applied.
--
-- Tables:
--   symbols, cache_entries, events   reference data and producer history;
--                                    tickpush may only read them
--   users, user_watchlists,          the accounts and their objects;
--   user_filter_presets              tickpush reads and writes them
-- See docs/database.md.

BEGIN;

-- ---- reference data (read-only for tickpush) --------------------------

CREATE TABLE IF NOT EXISTS symbols (
	symbol        text PRIMARY KEY
	              CHECK (symbol ~ '^[A-Z0-9._/-]{1,16}$'),
	name          text NOT NULL DEFAULT '',
	exchange      text,
	market        text NOT NULL DEFAULT 'stocks',
	locale        text NOT NULL DEFAULT 'us',
	currency_name text NOT NULL DEFAULT 'usd',
	type          text,
	active        boolean NOT NULL DEFAULT true,
	sector        text,
	industry      text,
	market_cap    numeric(20, 2) CHECK (market_cap IS NULL OR market_cap >= 0),
	last_updated  timestamptz NOT NULL DEFAULT now()
);
-- GET /api/symbols?market=&search=: filter by market, substring search.
CREATE INDEX IF NOT EXISTS symbols_market_idx ON symbols (market, symbol);
CREATE INDEX IF NOT EXISTS symbols_sector_idx ON symbols (sector);

-- The original TickStock key/value layout; universes live here as JSONB
-- ({"tickers":[...],"description":...,"criteria":...,"count":N}).
CREATE TABLE IF NOT EXISTS cache_entries (
	id          serial PRIMARY KEY,
	type        text NOT NULL,
	name        text NOT NULL,
	key         text NOT NULL,
	value       jsonb NOT NULL,
	environment text NOT NULL DEFAULT 'DEFAULT',
	created_at  timestamptz NOT NULL DEFAULT now(),
	updated_at  timestamptz NOT NULL DEFAULT now(),
	CONSTRAINT cache_entries_type_name_key_env_key UNIQUE (type, name, key, environment)
);
CREATE INDEX IF NOT EXISTS cache_entries_type_env_idx ON cache_entries (type, environment);

-- Pattern history, written by the producer, counted by the dashboard.
CREATE TABLE IF NOT EXISTS events (
	id         bigserial PRIMARY KEY,
	event_type text NOT NULL,
	symbol     text,
	pattern    text,
	confidence double precision CHECK (confidence IS NULL OR (confidence >= 0 AND confidence <= 1)),
	created_at timestamptz NOT NULL DEFAULT now(),
	data       jsonb
);
-- latest_event_time = max(created_at); per-symbol history.
CREATE INDEX IF NOT EXISTS events_created_at_idx ON events (created_at);
CREATE INDEX IF NOT EXISTS events_symbol_created_at_idx ON events (symbol, created_at);

-- ---- accounts and their objects (read/write for tickpush) -------------

CREATE TABLE IF NOT EXISTS users (
	id            bigserial PRIMARY KEY,
	username      text NOT NULL UNIQUE
	              CHECK (username ~ '^[A-Za-z0-9][A-Za-z0-9_.-]{2,63}$'),
	-- pbkdf2_sha256$<iterations>$<salt base64>$<hash base64> (password.h)
	password_hash text NOT NULL
	              CHECK (password_hash ~ '^pbkdf2_sha256\$[1-9][0-9]{0,6}\$[A-Za-z0-9+/=]+\$[A-Za-z0-9+/=]+$'),
	created_at    timestamptz NOT NULL DEFAULT now()
);
-- "Demo" and "demo" may not both exist.
CREATE UNIQUE INDEX IF NOT EXISTS users_username_lower_idx ON users (lower(username));

CREATE TABLE IF NOT EXISTS user_watchlists (
	id         bigserial PRIMARY KEY,
	user_id    bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	name       text NOT NULL CHECK (char_length(name) BETWEEN 1 AND 100),
	symbols    text[] NOT NULL DEFAULT '{}'
	           CHECK (cardinality(symbols) <= 500 AND array_position(symbols, NULL) IS NULL),
	created_at timestamptz NOT NULL DEFAULT now(),
	updated_at timestamptz NOT NULL DEFAULT now(),
	CONSTRAINT user_watchlists_user_name_key UNIQUE (user_id, name)
);

CREATE TABLE IF NOT EXISTS user_filter_presets (
	id         bigserial PRIMARY KEY,
	user_id    bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	name       text NOT NULL CHECK (char_length(name) BETWEEN 1 AND 100),
	filters    jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(filters) = 'object'),
	is_default boolean NOT NULL DEFAULT false,
	created_at timestamptz NOT NULL DEFAULT now(),
	updated_at timestamptz NOT NULL DEFAULT now(),
	CONSTRAINT user_filter_presets_user_name_key UNIQUE (user_id, name)
);
-- One default preset per user.
CREATE UNIQUE INDEX IF NOT EXISTS user_filter_presets_one_default_idx
	ON user_filter_presets (user_id) WHERE is_default;

-- updated_at follows every UPDATE, whoever writes.
CREATE OR REPLACE FUNCTION tickpush_touch_updated_at() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
	NEW.updated_at := now();
	RETURN NEW;
END $$;

CREATE OR REPLACE TRIGGER user_watchlists_touch BEFORE UPDATE ON user_watchlists
	FOR EACH ROW EXECUTE FUNCTION tickpush_touch_updated_at();
CREATE OR REPLACE TRIGGER user_filter_presets_touch BEFORE UPDATE ON user_filter_presets
	FOR EACH ROW EXECUTE FUNCTION tickpush_touch_updated_at();
CREATE OR REPLACE TRIGGER cache_entries_touch BEFORE UPDATE ON cache_entries
	FOR EACH ROW EXECUTE FUNCTION tickpush_touch_updated_at();

-- ---- the tickpush role --------------------------------------------------
-- A login role without a password: deployments set one
-- (ALTER ROLE tickpush PASSWORD '...') or use peer/cert authentication.

DO $$
BEGIN
	IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'tickpush') THEN
		CREATE ROLE tickpush LOGIN;
	END IF;
END $$;

REVOKE CREATE ON SCHEMA public FROM PUBLIC;
GRANT USAGE ON SCHEMA public TO tickpush;

REVOKE ALL ON symbols, cache_entries, events, users, user_watchlists,
	user_filter_presets FROM PUBLIC, tickpush;
REVOKE ALL ON SEQUENCE cache_entries_id_seq, events_id_seq, users_id_seq,
	user_watchlists_id_seq, user_filter_presets_id_seq FROM PUBLIC, tickpush;
REVOKE ALL ON FUNCTION tickpush_touch_updated_at() FROM PUBLIC;

GRANT SELECT ON symbols, cache_entries, events TO tickpush;
GRANT SELECT, INSERT, UPDATE, DELETE ON users, user_watchlists,
	user_filter_presets TO tickpush;
GRANT USAGE ON SEQUENCE users_id_seq, user_watchlists_id_seq,
	user_filter_presets_id_seq TO tickpush;

COMMIT;
