-- ocnd schema version 1: OCPI connections (platforms), their roles and
-- endpoints, tokens, registration tokens, proxy resources, OcnRules and
-- network client info.  Secrets the node only has to recognise (Token A,
-- Token C) are stored as SHA-256 hex digests; Token B is kept in clear
-- because the node must present it when calling the party.

CREATE TABLE platforms (
    id              INTEGER PRIMARY KEY,
    status          TEXT    NOT NULL CHECK (status IN ('PLANNED','CONNECTED','OFFLINE','SUSPENDED')),
    ocpi_version    TEXT,                 -- '2.2' or '2.2.1' once connected
    versions_url    TEXT,
    token_b         TEXT,
    token_c_hash    TEXT UNIQUE,
    signatures      INTEGER NOT NULL DEFAULT 0,
    rules_mode      TEXT    NOT NULL DEFAULT 'none' CHECK (rules_mode IN ('none','whitelist','blacklist')),
    created_at      REAL    NOT NULL,
    last_updated    REAL    NOT NULL
);

CREATE TABLE registration_tokens (
    id              INTEGER PRIMARY KEY,
    token_hash      TEXT    NOT NULL UNIQUE,
    platform_id     INTEGER NOT NULL REFERENCES platforms(id) ON DELETE CASCADE,
    parties         TEXT    NOT NULL,     -- JSON list of {"country_code","party_id"} announced by the admin
    created_at      REAL    NOT NULL,
    expires_at      REAL,
    used_at         REAL
);

CREATE TABLE roles (
    id              INTEGER PRIMARY KEY,
    platform_id     INTEGER NOT NULL REFERENCES platforms(id) ON DELETE CASCADE,
    role            TEXT    NOT NULL,
    country_code    TEXT    NOT NULL,     -- stored upper-case
    party_id        TEXT    NOT NULL,     -- stored upper-case
    business_details TEXT,                -- raw JSON as received
    UNIQUE (country_code, party_id, role)
);
CREATE INDEX roles_party ON roles (country_code, party_id);

CREATE TABLE endpoints (
    id              INTEGER PRIMARY KEY,
    platform_id     INTEGER NOT NULL REFERENCES platforms(id) ON DELETE CASCADE,
    identifier      TEXT    NOT NULL,
    role            TEXT    NOT NULL,     -- SENDER / RECEIVER
    url             TEXT    NOT NULL
);
CREATE INDEX endpoints_platform ON endpoints (platform_id, identifier, role);

CREATE TABLE proxy_resources (
    id              INTEGER PRIMARY KEY,
    uid             TEXT    NOT NULL UNIQUE,
    sender_cc       TEXT    NOT NULL,
    sender_pid      TEXT    NOT NULL,
    receiver_cc     TEXT    NOT NULL,
    receiver_pid    TEXT    NOT NULL,
    resource        TEXT    NOT NULL,
    created_at      REAL    NOT NULL,
    expires_at      REAL
);
CREATE INDEX proxy_expiry ON proxy_resources (expires_at);

CREATE TABLE ocn_rules (
    id              INTEGER PRIMARY KEY,
    platform_id     INTEGER NOT NULL REFERENCES platforms(id) ON DELETE CASCADE,
    country_code    TEXT    NOT NULL,
    party_id        TEXT    NOT NULL,
    modules         TEXT    NOT NULL,     -- JSON list of module ids
    UNIQUE (platform_id, country_code, party_id)
);

CREATE TABLE network_client_info (
    id              INTEGER PRIMARY KEY,
    country_code    TEXT    NOT NULL,
    party_id        TEXT    NOT NULL,
    role            TEXT    NOT NULL,
    status          TEXT    NOT NULL,
    last_updated    REAL    NOT NULL,
    UNIQUE (country_code, party_id, role)
);
