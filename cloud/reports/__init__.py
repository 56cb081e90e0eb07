"""Monthly reports ops hand upward (to the union, a partner, a city): uptime while open,
door decisions, footfall and alarm response times per partner, city or station.

Not the workers' problem reports (those are `cloud.feedback`). `month` says which month in
each station's own time zone, `openhours` when a station was due open, `liveopen` how much of
that its agent confirmed, `activity` the counts from events, footfall and alarms, `monthly`
puts them together per group and `csvfile` writes the table for a spreadsheet.
"""
