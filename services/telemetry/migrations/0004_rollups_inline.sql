-- Rollup rows stay in the table's own pages up to 8,160 bytes instead of going to TOAST past 2,032 (PostgreSQL's
-- default toast_tuple_target). A group-hour's 1-minute rollups encode to about 2 KiB, just over the default: each
-- row was split into TOAST chunks with their own tuple headers, index entries and free-space map, 409,600 bytes for
-- 266,014 of blocks on the 1M-point benchmark. Blocks stay uncompressed by PostgreSQL (STORAGE EXTERNAL from 0001:
-- they are zstd already); rows past 8,160 bytes still go to TOAST. Applies to rows written from now on.
ALTER TABLE telemetry_rollups SET (toast_tuple_target = 8160);
