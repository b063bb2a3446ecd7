"""Tests of the monitoring survey (careflow.survey, models.survey, flows.survey)."""
