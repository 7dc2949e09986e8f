-- The bridge's own small database: one party's tokens and its node's endpoints.
CREATE TABLE auth (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    node_url TEXT NOT NULL DEFAULT '',
    ocpi_version TEXT NOT NULL DEFAULT '',
    token_b TEXT NOT NULL DEFAULT '',
    token_c TEXT NOT NULL DEFAULT '',
    updated REAL NOT NULL DEFAULT 0
);

CREATE TABLE endpoints (
    identifier TEXT NOT NULL,
    role TEXT NOT NULL,
    url TEXT NOT NULL,
    PRIMARY KEY (identifier, role)
);
