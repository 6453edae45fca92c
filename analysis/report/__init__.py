"""The quarterly report: tracking table, partner sheets, data quality and restatements, frozen when issued.

`content` is what a report says (figures, findings, restatements) as plain data; `build` reads it from the
indicator values; `todate` gives the to-date figure of the tracking table; `issues` freezes it and keeps every
issue; `restate` compares an issue with the values of today; `workbook` writes it as XLSX.
"""
