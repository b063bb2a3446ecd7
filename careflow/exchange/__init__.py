"""Data exchanges with departments (方案 一（三）): scheduled exports and answer imports, and the referrals an
answer proposes (:mod:`careflow.exchange.answers`, :mod:`careflow.exchange.proposals`,
:mod:`careflow.exchange.scheduled`)."""
