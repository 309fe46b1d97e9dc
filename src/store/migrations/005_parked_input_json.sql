-- A parked event's workflow input is kept as json, not jsonb. The input carries the Kafka record
-- as it was read (key, header values, value text), which may hold U+0000: a big-endian integer key
-- such as 00 00 00 2A is valid UTF-8, and so is a binary-mode text value with a NUL byte. jsonb
-- refuses "\u0000" ("unsupported Unicode escape sequence", it cannot be converted to text), so
-- parking such an event failed on every retry, holding its key and its partition's offsets
-- forever. json keeps the text as written (validated as JSON) and reads back the same value;
-- nothing queries inside the input.
alter table parked_events alter column input type json using input::json;
