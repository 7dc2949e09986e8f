-- ocnd schema version 3: the message trace.  One row per routed hop this node
-- saw: metadata only (parties, ids, module, status, latency, next/previous
-- node), never bodies, tokens or signatures.  Rows older than
-- [observability] trace_retention are swept; at most trace_max_hops are kept.

CREATE TABLE trace_hops (
    id              INTEGER PRIMARY KEY,
    correlation_id  TEXT    NOT NULL,
    time            REAL    NOT NULL,   -- when the hop started (unix seconds)
    hop             TEXT    NOT NULL    -- JSON object, see ocnd.observe.Observability.hop_of
);
CREATE INDEX trace_hops_correlation ON trace_hops (correlation_id);
CREATE INDEX trace_hops_time ON trace_hops (time);
