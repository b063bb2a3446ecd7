"""The monitoring survey (监测摸排, 方案 一): import, rounds and changes, key care files and duties, data sharing.

Modules:

* :mod:`careflow.survey.columns` — the Chinese column headers a county's spreadsheet may use, and finding the
  header row under title rows and merged (two-row) headers;
* :mod:`careflow.survey.reader` — streaming rows out of CSV (UTF-8 or GB18030) and XLSX files;
* :mod:`careflow.survey.validate` — one row: its fields checked together, and classification;
* :mod:`careflow.survey.field_checks` — one field's rules (what is required, forgiven and refused), one check each;
* :mod:`careflow.survey.cells` — one cell: ID number and check digit, dates in their many forms, counties, key care
  criteria;
* :mod:`careflow.survey.importer` — :func:`~careflow.survey.importer.import_survey`, the import service; the merge
  of each chunk (:mod:`~careflow.survey.merge`, its SQL :mod:`~careflow.survey.merge_sql`), the report
  (:mod:`~careflow.survey.import_report`) and the round's consequences (:mod:`~careflow.survey.round_consequences`);
* :mod:`careflow.survey.transfer` — a child found in another county or area: cases and duties follow;
* :mod:`careflow.survey.duties` — scheduling the child director's monthly contact and quarterly home visit
  (:mod:`~careflow.survey.duty_calendar`: when each is due; :mod:`~careflow.survey.duty_rows`: writing them fast);
* :mod:`careflow.survey.care_files` — a key care file's contacts and visits recorded, files closed and reopened;
* :mod:`careflow.survey.changes` — what changed since the county's previous round;
* :mod:`careflow.survey.scheduled` — round reminders, the daily age-out check, the weekly list of visits due;
* :mod:`careflow.survey.sharing` — exports for departments and their answers (方案 一（三）);
* :mod:`careflow.survey.messages` — messages to units that are about no single task.

``careflow survey …`` is an entry point, in the top layer: ``entry/survey_cli.py``.
"""
