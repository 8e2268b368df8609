"""Teacher roles: how a method says which trained teachers it needs, without the planner knowing the method.

A role names an architecture (None: the experiment's teacher) and how that network is trained: alone
with cross-entropy (`method="ce"`, the default), or distilled itself from teachers of its own (roles
again). The experiment turns each role into a stored, keyed stage. Hinton KD needs `(TEACHER,)`;
teacher-assistant KD needs an assistant distilled from the teacher; multi-teacher KD needs the teacher
and other networks trained alone; online and self-distillation need none.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Role:
    arch: str | None = None  # None: the experiment's teacher architecture
    method: str = "ce"  # how this teacher is trained: "ce" alone, or a distillation method
    teachers: tuple[Role, ...] = ()  # the teachers of a distilled teacher


TEACHER = Role()
