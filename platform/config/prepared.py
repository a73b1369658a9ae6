"""Querysets built and compiled to SQL once per database connection, then run with new parameters.

The instant answer's hot path (issue #17) spent two thirds of its CPU in Django's ORM building
querysets and compiling them to SQL again on every request, for the same four queries. A
``PreparedQuery`` is written as an ordinary queryset, in a function of its parameters; the first
call on a connection builds it with stand-in values, compiles it, and finds where each stand-in
landed among the SQL's parameters. Every later call only puts the new values there, runs the SQL
through the connection's cursor (so ``assertNumQueries`` and ``connection.queries`` see it) and
turns the rows into model instances the way ``QuerySet`` does (``select_related``, annotations
and the backend's converters included).

The only library that did this, django-prepared-queries, stopped at Django 2.1.

Rules (checked at the first call, so a test of the caller catches a breach):

- the builder depends on its parameters only (no ``timezone.now()`` inside: it would be frozen);
- parameters are ``int`` or ``str`` values compared for equality, reaching the SQL unchanged
  (``pk=x``, ``digest=x``; not ``name__icontains=x``, which wraps them); ``None`` and booleans
  change the SQL's shape, so such a choice is two prepared queries (an ``int`` beyond 64 bits
  goes through the ORM, which knows it matches nothing);
- no ``prefetch_related``.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.db import DEFAULT_DB_ALIAS, connections
from django.db.models import QuerySet
from django.db.models.query import ModelIterable, get_related_populators
from django.db.transaction import TransactionManagementError

# Stand-ins, one per parameter name, compiled and then replaced: within a 32-bit integer field's
# range (Django refuses out-of-range values at compile time), and no constant of a query.
_INT_BASE = 2_147_480_000
# A value outside 64 bits (an id typed in a URL) cannot be bound as it is (SQLite raises
# OverflowError): such a call goes through the ORM, whose integer lookups know it matches nothing.
_INT_MIN, _INT_MAX = -(2**63), 2**63 - 1


@dataclass
class _Compiled:
    sql: str
    params: list[Any]  # the compiled parameters; a stand-in's places are filled at each call
    slots: list[tuple[int, str]]  # (index in params, parameter name)
    compiler: Any
    model_rows: bool
    locks: bool


class PreparedQuery:
    def __init__(self, build: Callable[..., QuerySet], using: str = DEFAULT_DB_ALIAS):
        self.build = build
        self.using = using

    def __repr__(self) -> str:
        return f"PreparedQuery({self.build.__module__}.{self.build.__qualname__})"

    def all(self, **params) -> list:
        """Model instances (or tuples, for a ``values_list`` queryset)."""
        return self._run(params)

    def first(self, **params):
        rows = self._run(params)
        return rows[0] if rows else None

    def _compiled(self, connection, params: dict) -> _Compiled:
        cache = connection.__dict__.setdefault("_stride_prepared", {})  # the wrapper is per thread
        compiled = cache.get(self)
        if compiled is None:
            compiled = cache[self] = self._compile(connection, params)
        return compiled

    def _compile(self, connection, params: dict) -> _Compiled:
        stand_ins = {}
        for n, (name, value) in enumerate(sorted(params.items())):
            if isinstance(value, bool) or not isinstance(value, int | str):
                raise TypeError(f"{self!r}: parameter {name!r} is {type(value).__name__}; only int and str can be prepared")
            stand_ins[name] = _INT_BASE + n if isinstance(value, int) else f"\x1fprepared {name}\x1f"
        queryset = self.build(**stand_ins)
        if queryset._prefetch_related_lookups:
            raise ValueError(f"{self!r}: prefetch_related cannot be prepared")
        compiler = queryset.query.get_compiler(connection=connection)
        sql, template = compiler.as_sql()
        by_value = {value: name for name, value in stand_ins.items()}
        slots = [(i, by_value[value]) for i, value in enumerate(template)
                 if isinstance(value, int | str) and not isinstance(value, bool) and value in by_value]
        missing = set(stand_ins) - {name for _, name in slots}
        if missing:
            raise ValueError(f"{self!r}: parameters {sorted(missing)} do not reach the SQL unchanged; "
                             "prepare only plain comparisons with them")
        return _Compiled(sql=sql, params=list(template), slots=slots, compiler=compiler,
                         model_rows=queryset._iterable_class is ModelIterable,
                         locks=bool(queryset.query.select_for_update))

    def _run(self, params: dict) -> list:
        if any(isinstance(v, int) and not _INT_MIN <= v <= _INT_MAX for v in params.values()):
            return list(self.build(**params))
        connection = connections[self.using]
        compiled = self._compiled(connection, params)
        if compiled.locks and connection.get_autocommit():
            raise TransactionManagementError("select_for_update cannot be used outside of a transaction.")
        values = list(compiled.params)
        for index, name in compiled.slots:
            values[index] = params[name]
        compiler = compiled.compiler
        with connection.cursor() as cursor:
            cursor.execute(compiled.sql, values)
            rows = cursor.fetchall()
        if compiler.has_extra_select:
            rows = [row[:compiler.col_count] for row in rows]
        rows = list(compiler.results_iter(results=[rows], tuple_expected=True))
        return self._instances(compiler, rows, connection.alias) if compiled.model_rows else rows

    @staticmethod
    def _instances(compiler, rows: list, db: str) -> list:
        # What ModelIterable does with a compiled query's rows.
        select, klass_info, annotation_col_map = compiler.select, compiler.klass_info, compiler.annotation_col_map
        model_cls = klass_info["model"]
        fields = klass_info["select_fields"]
        start, end = fields[0], fields[-1] + 1
        init_list = [f[0].target.attname for f in select[start:end]]
        populators = get_related_populators(klass_info, select, db)
        objects = []
        for row in rows:
            obj = model_cls.from_db(db, init_list, row[start:end])
            for populator in populators:
                populator.populate(row, obj)
            for attr_name, position in (annotation_col_map or {}).items():
                setattr(obj, attr_name, row[position])
            objects.append(obj)
        return objects


def prepared(build: Callable[..., QuerySet]) -> PreparedQuery:
    """Decorate a function that builds a queryset from its keyword parameters."""
    return PreparedQuery(build)
