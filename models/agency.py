"""Agency units (承办单位): the concrete offices that receive tasks."""
from __future__ import annotations

from sqlmodel import Field, SQLModel


class AgencyUnit(SQLModel, table=True):
    """A concrete unit of an agency type in a jurisdiction, e.g. ``police-350302`` 莆田市公安局城厢分局.

    ``jurisdiction_code`` is a GB/T 2260 code (province ``350000``, city ``350300``, county ``350302``)
    or a statistical area code (township 9 digits, village/community 12 digits). A task for an agency
    type goes to the unit whose jurisdiction is the closest one containing the child's area
    (see :func:`careflow.routing.resolve_unit`). Notification channels are configured per ``code``.

    ``answers_by_command``: the unit has no web account and answers on the command line (``careflow task …``): its
    messages carry the commands to type. Otherwise (the default) a message only links to the web task page
    (issue 12: command-line instructions only for units configured to use it).
    """

    __tablename__ = "agency_unit"

    code: str = Field(primary_key=True, max_length=64)
    agency_type: str = Field(index=True, max_length=40, description="an agency code of policy/agencies.yaml")
    jurisdiction_code: str = Field(index=True, max_length=12)
    name: str = Field(max_length=120)
    active: bool = True
    answers_by_command: bool = False
