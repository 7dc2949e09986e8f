-- ocnd schema version 2: local snapshot of the OCN Registry so routing works
-- before the first sync and while the chain RPC is down.  Addresses are
-- EIP-55 checksum strings; country_code/party_id upper-case; roles and
-- modules are comma-separated enum numbers ("0,1").

CREATE TABLE registry_operators (
    address         TEXT    PRIMARY KEY,
    url             TEXT    NOT NULL
);

CREATE TABLE registry_parties (
    address         TEXT    PRIMARY KEY,
    country_code    TEXT    NOT NULL,
    party_id        TEXT    NOT NULL,
    roles           TEXT    NOT NULL,
    modules_sender  TEXT    NOT NULL,
    modules_receiver TEXT   NOT NULL,
    operator        TEXT    NOT NULL
);
CREATE INDEX registry_parties_ocpi ON registry_parties (country_code, party_id);

CREATE TABLE registry_sync (
    id              INTEGER PRIMARY KEY CHECK (id = 1),
    registry_address TEXT,
    last_block      INTEGER,              -- highest block whose events are applied
    last_sync       REAL,                 -- clock seconds of the last successful sync
    last_full       REAL                  -- clock seconds of the last full reconcile
);
INSERT INTO registry_sync (id) VALUES (1);
