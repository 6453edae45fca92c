"""Checks on the answers themselves: values out of range, outliers, totals that differ from their parts.

Ranges come from the forms: the simple bounds of a question's XLSForm constraint (`. >= 0 and . <= 500`,
`. >= date('2026-03-01')`, `. <= today()`, `. <= ${visit_date}`), a `range` question's start and end, and two
rules every count and amount obeys: it is not negative, and an amount in euros (`…_eur`) of a grant's submission
is not above the grant's `amount_eur`. Phones enforce constraints, so a value outside them came from an edit on
the server, an import or another form version: the figure it feeds is wrong.

Totals come from the forms too: a calculate that adds questions (`${leaders_female} + ${leaders_male}`) or a
repeat's rows (`sum(${reached_count})`) must equal them (an edit on the server does not recompute it), and a
collected `<stem>_total` is at least its parts `<stem>_*` (equal when a `<stem>_unknown` part takes the rest).

Outliers are judged per question against the form's submissions of the quarter and of the OUTLIER_WINDOW − 1
quarters before it, all partners together, with the median and the median absolute deviation (robust to the
outliers themselves); only the quarter's own values are flagged. Only forms that do not describe one person are
judged (an age of 80 is rare, not wrong), a repeat's rows are added up per submission, values already out of range
are left out, and a question whose values are mostly identical (MAD = 0) is not judged.
"""

import datetime as dt
import re
import statistics
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field

from analysis.facts import Located
from analysis.quality_model import (
    OUTLIER_MIN_SAMPLE,
    OUTLIER_THRESHOLD,
    Finding,
    Group,
    Scope,
    count_fr,
    number_text,
    question_label,
    values_text,
)
from analysis.quality_scan import ScanRow, Wanted
from catalogue.model import Catalogue, FormSpec, Question, Text

NUMERIC = ("integer", "decimal", "range")
NUMBER = r"-?\d+(?:\.\d+)?"
_SIMPLE = re.compile(rf"^\.\s*(<=|>=|<|>|=|!=)\s*({NUMBER})$")
_FLIPPED = re.compile(rf"^({NUMBER})\s*(<=|>=|<|>)\s*\.$")
_DATE = re.compile(r"^\.\s*(<=|>=|<|>)\s*date\(\s*'(\d{4}-\d{2}-\d{2})'\s*\)$")
_TODAY = re.compile(r"^\.\s*(<=|<)\s*today\(\s*\)$")
_OTHER = re.compile(r"^\.\s*(<=|>=|<|>)\s*\$\{([A-Za-z_][A-Za-z0-9_]*)\}$")
_SUM_OF_QUESTIONS = re.compile(r"^\s*\$\{(\w+)\}(?:\s*\+\s*\$\{\w+\})+\s*$")
_SUM_OF_REPEAT = re.compile(r"^\s*sum\(\s*\$\{(\w+)\}\s*\)\s*$")
_REFERENCE = re.compile(r"\$\{(\w+)\}")
_FLIP = {"<": ">", ">": "<", "<=": ">=", ">=": "<="}
MAD_SCALE = 1.4826
TOLERANCE = 1e-6
AMOUNT_SUFFIX = "_eur"
AMOUNT_ATTRIBUTE = "amount_eur"
TODAY_SLACK = dt.timedelta(days=1)
"""A date may be one day after the day the submission was last written (phones keep local time, the server UTC)."""


# --- constraints -----------------------------------------------------------------------------------------


def conjuncts(expression: str) -> list[str] | None:
    """The top-level `and` parts of an XPath constraint, or None when it has a top-level `or` (no simple bound)."""
    masked = []
    depth, quote = 0, ""
    for char in expression:
        if quote:
            quote = "" if char == quote else quote
            masked.append("_")
        elif char in "'\"":
            quote = char
            masked.append("_")
        elif char == "(":
            depth += 1
            masked.append("_")
        elif char == ")":
            depth -= 1
            masked.append("_")
        else:
            masked.append(char if depth == 0 else "_")
    text = "".join(masked)
    if re.search(r"\bor\b", text):
        return None
    parts, last = [], 0
    for match in re.finditer(r"\s+and\s+", text):
        parts.append(expression[last : match.start()].strip())
        last = match.end()
    parts.append(expression[last:].strip())
    return parts


@dataclass(frozen=True)
class Rule:
    """One bound on an answer: a number, a fixed date, the receive day (`today()`), or another question."""

    op: str
    number: float | None = None
    day: dt.date | None = None
    today: bool = False
    other: str | None = None
    kind: str = "range"
    """`range` (the form's bounds), `negative` (a count below 0), `future`, `date`, `other`, `amount`."""

    def holds(self, value: float | dt.date, bound: float | dt.date) -> bool:
        match self.op:
            case "<=":
                return value <= bound  # type: ignore[operator]
            case "<":
                return value < bound  # type: ignore[operator]
            case ">=":
                return value >= bound  # type: ignore[operator]
            case ">":
                return value > bound  # type: ignore[operator]
            case "=":
                return value == bound
            case _:
                return value != bound

    def text(self) -> tuple[str, str]:
        """The bound as a message says it (French, Arabic)."""
        target = (
            number_text(self.number)
            if self.number is not None
            else f"{self.day:%d/%m/%Y}"
            if self.day is not None
            else self.other or ""
        )
        symbol = {"<=": "≤", ">=": "≥", "!=": "≠"}.get(self.op, self.op)
        return f"{symbol} {target}", f"{symbol} {target}"


def question_rules(question: Question, located: Located, questions: Mapping[str, Located]) -> list[Rule]:
    """The bounds a question's answers must keep, read from its constraint and type."""
    rules: list[Rule] = []
    numeric = question.type in NUMERIC
    if question.type == "range" and question.parameters:
        params = dict(p.split("=", 1) for p in question.parameters.split() if "=" in p)
        for key, op in (("start", ">="), ("end", "<=")):
            if key in params and re.fullmatch(NUMBER, params[key].strip()):
                rules.append(Rule(op, number=float(params[key])))
    for part in conjuncts(question.constraint or "") or []:
        if numeric and (match := _SIMPLE.match(part)):
            rules.append(Rule(match[1], number=float(match[2])))
        elif numeric and (match := _FLIPPED.match(part)):
            rules.append(Rule(_FLIP[match[2]], number=float(match[1])))
        elif question.type == "date" and (match := _DATE.match(part)):
            rules.append(Rule(match[1], day=dt.date.fromisoformat(match[2]), kind="date"))
        elif question.type == "date" and (match := _TODAY.match(part)):
            rules.append(Rule(match[1], today=True, kind="future"))
        elif (match := _OTHER.match(part)) and _comparable(located, questions.get(match[2])):
            rules.append(Rule(match[1], other=match[2], kind="other"))
    if numeric and not any(r.op in (">=", ">", "=") and r.number is not None for r in rules):
        rules.append(Rule(">=", number=0.0, kind="negative"))
    if numeric and question.name.endswith(AMOUNT_SUFFIX):
        rules.append(Rule("<=", kind="amount"))
    return rules


def _comparable(located: Located, other: Located | None) -> bool:
    """A bound on another question is checked when both are outside repeats, of one kind, and not identifying."""
    if other is None or other.pii or other.scope or located.scope:
        return False
    kinds = {"date": "date", "integer": "number", "decimal": "number", "range": "number"}
    return kinds.get(located.type) is not None and kinds.get(located.type) == kinds.get(other.type)


# --- totals ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TotalRule:
    total: str
    parts: tuple[str, ...]
    in_repeat: bool
    """The parts are one question of a repeat, added over its rows."""
    exact: bool
    """True: total = Σ parts; False: total ≥ Σ parts (the rest is unknown)."""


def total_rules(form: FormSpec, questions: Mapping[str, Question], located: Mapping[str, Located]) -> list[TotalRule]:
    """The totals a form keeps next to their parts (calculated sums, and collected `<stem>_total` questions)."""
    rules: list[TotalRule] = []
    for name, question in questions.items():
        where = located.get(name)
        if where is None or where.scope or question.pii or question.sensitive:
            continue
        if question.type == "calculate" and question.calculation:
            calculation = question.calculation
            if _SUM_OF_QUESTIONS.match(calculation):
                parts = tuple(_REFERENCE.findall(calculation))
                if all(_numeric_root(p, questions, located) for p in parts):
                    rules.append(TotalRule(name, parts, in_repeat=False, exact=True))
            elif match := _SUM_OF_REPEAT.match(calculation):
                part = located.get(match[1])
                if part is not None and part.scope and part.type in NUMERIC and not part.pii:
                    rules.append(TotalRule(name, (match[1],), in_repeat=True, exact=True))
        elif question.type in NUMERIC and name.endswith("_total"):
            stem = name.removesuffix("total")
            parts = tuple(
                other
                for other in questions
                if other != name and other.startswith(stem) and _numeric_root(other, questions, located)
            )
            if parts:
                rules.append(TotalRule(name, parts, in_repeat=False, exact=f"{stem}unknown" in parts))
    return rules


def _numeric_root(name: str, questions: Mapping[str, Question], located: Mapping[str, Located]) -> bool:
    question, where = questions.get(name), located.get(name)
    return (
        question is not None
        and where is not None
        and not where.scope
        and not where.pii
        and (question.type in NUMERIC or question.type == "calculate")
    )


# --- the per-form plan and the visitor -------------------------------------------------------------------


@dataclass(frozen=True)
class ValuePlan:
    """What the value checks read in one form."""

    form: FormSpec
    questions: dict[str, Question]
    located: dict[str, Located]
    rules: dict[str, list[Rule]]
    totals: list[TotalRule]
    outliers: tuple[str, ...]
    amounts: dict[str, float]
    """Grant code → its amount in euros (the catalogue's `amount_eur` attribute)."""

    @classmethod
    def of(
        cls, catalogue: Catalogue, form: FormSpec, questions: dict[str, Question], located: dict[str, Located]
    ) -> "ValuePlan":
        rules: dict[str, list[Rule]] = {}
        for name, question in questions.items():
            where = located.get(name)
            if where is None or where.pii or question.sensitive or name == form.activity_date:
                continue
            if question.type in (*NUMERIC, "date"):
                found = question_rules(question, where, located)
                if found:
                    rules[name] = found
        outliers: tuple[str, ...] = ()
        if not form.person_identifiers:
            outliers = tuple(
                name
                for name, question in questions.items()
                if question.type in NUMERIC
                and name in located
                and not located[name].pii
                and not question.sensitive
                and name not in (form.dimensions.values())
            )
        amounts: dict[str, float] = {}
        for dimension in catalogue.dimensions:
            if dimension.code == "grant":
                for value in dimension.values:
                    amount = value.attributes.get(AMOUNT_ATTRIBUTE)
                    if isinstance(amount, int | float) and not isinstance(amount, bool):
                        amounts[value.code] = float(amount)
        return cls(form, questions, located, rules, total_rules(form, questions, located), outliers, amounts)

    def wanted(self) -> Wanted:
        names: list[str] = [*self.rules, *self.outliers]
        for rules in self.rules.values():
            names += [rule.other for rule in rules if rule.other]
        for total in self.totals:
            names += [total.total, *total.parts]
        return Wanted.of(names, self.located)


@dataclass
class ValueVisitor:
    """Reads the scanned rows of one form and quarter, then says what is out of range, an outlier or mis-added."""

    scope: Scope
    plan: ValuePlan
    wanted: Wanted
    ranges: dict[tuple[str | None, str, Rule], Group] = field(default_factory=lambda: defaultdict(Group))
    samples: dict[str, list[tuple[float, str, str | None]]] = field(default_factory=lambda: defaultdict(list))
    totals: dict[tuple[str | None, TotalRule], Group] = field(default_factory=lambda: defaultdict(Group))
    reference: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    """Values of the quarters before, for the outliers' reference sample."""

    def outlier_wanted(self) -> Wanted | None:
        """What to read in the earlier quarters: the outlier questions, if the quarter has values to judge."""
        if not self.samples:
            return None
        return Wanted.of(list(self.samples), self.plan.located)

    def visit_reference(self, row: ScanRow) -> None:
        for name in self.samples:
            values = self._answers(row, name)
            if self._in_range(row, name, values):
                numbers = [float(v) for v in values if isinstance(v, int | float)]
                if numbers:
                    self.reference[name].append(sum(numbers))

    def _in_range(self, row: ScanRow, name: str, values: list[object]) -> bool:
        for rule in self.plan.rules.get(name, []):
            bound = self._bound(rule, row)
            if isinstance(bound, int | float) and any(
                isinstance(v, int | float) and not rule.holds(v, bound) for v in values
            ):
                return False
        return True

    def visit(self, row: ScanRow) -> None:
        out_of_range: set[str] = set()
        for name, rules in self.plan.rules.items():
            for value in self._answers(row, name):
                for rule in rules:
                    bound = self._bound(rule, row)
                    if bound is None or isinstance(value, dt.date) != isinstance(bound, dt.date):
                        continue
                    if not rule.holds(value, bound):
                        number = None if isinstance(value, dt.date) else float(value)
                        day = value if isinstance(value, dt.date) else None
                        self.ranges[(row.organisation, name, rule)].add(row.remote_id, number, day)
                        out_of_range.add(name)
        for name in self.plan.outliers:
            if name in out_of_range:
                continue
            numbers = [float(v) for v in self._answers(row, name) if isinstance(v, int | float)]
            if numbers:
                self.samples[name].append((sum(numbers), row.remote_id, row.organisation))
        for rule in self.plan.totals:
            gap = self._gap(rule, row)
            if gap is not None and (abs(gap) > TOLERANCE if rule.exact else gap < -TOLERANCE):
                self.totals[(row.organisation, rule)].add(row.remote_id, gap)

    def _answers(self, row: ScanRow, name: str) -> list[object]:
        where = self.plan.located[name]
        if not where.scope:
            value = row.answers.get(name)
            return [] if value is None else [value]
        repeat = where.scope[-1]
        return [item[name] for item in row.repeats.get(repeat, []) if item.get(name) is not None]

    def _bound(self, rule: Rule, row: ScanRow) -> float | dt.date | None:
        if rule.number is not None:
            return rule.number
        if rule.day is not None:
            return rule.day
        if rule.today:
            return row.last_seen + TODAY_SLACK if row.last_seen else None
        if rule.other is not None:
            other = row.answers.get(rule.other)
            if rule.other == self.plan.form.activity_date and other is None:
                other = row.activity_date
            return other if isinstance(other, int | float | dt.date) and not isinstance(other, bool) else None
        if rule.kind == "amount" and row.grant is not None:
            return self.plan.amounts.get(row.grant)
        return None

    def _gap(self, rule: TotalRule, row: ScanRow) -> float | None:
        total = row.answers.get(rule.total)
        if not isinstance(total, int | float) or isinstance(total, bool):
            return None
        if rule.in_repeat:
            return float(total) - sum(float(v) for v in self._answers(row, rule.parts[0]) if isinstance(v, int | float))
        parts = [row.answers.get(part) for part in rule.parts]
        numbers = [float(p) for p in parts if isinstance(p, int | float) and not isinstance(p, bool)]
        if (rule.exact and len(numbers) < len(parts)) or not numbers:
            return None
        return float(total) - sum(numbers)

    def findings(self) -> list[Finding]:
        return [*self._range_findings(), *self._outlier_findings(), *self._total_findings()]

    # --- messages ---

    def _range_findings(self) -> list[Finding]:
        found = []
        form = self.plan.form
        for (partner, name, rule), group in self.ranges.items():
            fr_label, ar_label = question_label(self.plan.questions.get(name), name)
            shown = values_text(group.shown)
            n = group.count
            fr_bound, ar_bound = rule.text()
            severity = "warning" if rule.kind == "amount" else "error"
            match rule.kind:
                case "negative":
                    fr_why, ar_why = "un nombre ne peut pas être négatif", "لا يمكن أن يكون العدد سالبا"
                case "future":
                    fr_why = "date postérieure à la saisie de la fiche"
                    ar_why = "تاريخ لاحق لتاريخ ملء الاستمارة"
                case "amount":
                    fr_why = "montant supérieur au montant total de la subvention (zéro en trop ?)"
                    ar_why = "مبلغ يفوق المبلغ الإجمالي للمنحة (صفر زائد؟)"
                case "other":
                    fr_why = f"doit être {fr_bound} selon le formulaire"
                    ar_why = f"يجب أن يكون {ar_bound} حسب الاستمارة"
                case _:
                    fr_why = f"le formulaire n'accepte que {fr_bound}"
                    ar_why = f"لا تقبل الاستمارة إلا {ar_bound}"
            message = Text(
                fr=f"{count_fr(n, 'réponse', 'réponses')} à « {fr_label} » hors limites ({fr_why}) : {shown}. "
                "Corriger la valeur sur le serveur avec l'équipe qui l'a saisie : l'indicateur qui la lit est faux.",
                ar=f"{n} جواب على «{ar_label}» خارج الحدود ({ar_why}): {shown}. "
                "يرجى تصحيح القيمة على الخادم مع الفريق الذي أدخلها: المؤشر الذي يعتمد عليها غير صحيح.",
            )
            worst = group.worst(rule.number or 0.0)
            found.append(
                Finding(
                    "out_of_range",
                    severity,
                    self.scope.period,
                    form.id,
                    partner,
                    f"question {name}",
                    message,
                    group.listed(),
                    worst,
                )
            )
        return found

    def _outlier_findings(self) -> list[Finding]:
        found = []
        form = self.plan.form
        for name, sample in self.samples.items():
            numbers = [value for value, _rid, _partner in sample] + self.reference.get(name, [])
            if len(numbers) < OUTLIER_MIN_SAMPLE:
                continue
            median = statistics.median(numbers)
            mad = statistics.median(abs(value - median) for value in numbers)
            if mad == 0:
                continue
            groups: dict[str | None, Group] = defaultdict(Group)
            for value, rid, partner in sample:
                if abs(value - median) / (MAD_SCALE * mad) > OUTLIER_THRESHOLD:
                    groups[partner].add(rid, value)
            fr_label, ar_label = question_label(self.plan.questions.get(name), name)
            for partner, group in groups.items():
                shown = values_text(group.shown)
                n = len(numbers)
                message = Text(
                    fr=f"{count_fr(group.count, 'valeur', 'valeurs')} de « {fr_label} » "
                    f"{'très éloignée' if group.count == 1 else 'très éloignées'} des autres "
                    f"soumissions de l'année écoulée (médiane {number_text(median)}, sur {n}) : {shown}. "
                    "Vérifier auprès de la source qu'il ne s'agit pas d'une erreur de saisie.",
                    ar=f"{group.count} قيمة لـ«{ar_label}» بعيدة جدا عن باقي استمارات السنة المنصرمة "
                    f"(الوسيط {number_text(median)}، من أصل {n}): {shown}. "
                    "يرجى التحقق من المصدر أنها ليست خطأ في الإدخال.",
                )
                found.append(
                    Finding(
                        "outlier",
                        "warning",
                        self.scope.period,
                        form.id,
                        partner,
                        f"question {name}",
                        message,
                        group.listed(),
                        group.worst(median),
                    )
                )
        return found

    def _total_findings(self) -> list[Finding]:
        found = []
        form = self.plan.form
        for (partner, rule), group in self.totals.items():
            fr_total, ar_total = question_label(self.plan.questions.get(rule.total), rule.total)
            parts = " + ".join(rule.parts) if not rule.in_repeat else f"Σ {rule.parts[0]}"
            shown = values_text(group.shown)
            if rule.exact:
                fr_what = f"ne correspond pas à la somme de ses parties ({parts}) ; écart : {shown}"
                ar_what = f"لا يساوي مجموع أجزائه ({parts})؛ الفرق: {shown}"
            else:
                fr_what = f"est inférieur à la somme de ses parties ({parts}) ; écart : {shown}"
                ar_what = f"أقل من مجموع أجزائه ({parts})؛ الفرق: {shown}"
            message = Text(
                fr=f"{count_fr(group.count, 'soumission', 'soumissions')} où le total « {fr_total} » {fr_what}. "
                "Un total n'est pas recalculé quand une réponse est modifiée sur le serveur : corriger le total ou "
                "ses parties.",
                ar=f"{group.count} استمارة لا يتطابق فيها المجموع «{ar_total}»: {ar_what}. "
                "لا يعاد حساب المجموع عند تعديل جواب على الخادم: يرجى تصحيح المجموع أو أجزائه.",
            )
            found.append(
                Finding(
                    "disaggregation_total",
                    "error",
                    self.scope.period,
                    form.id,
                    partner,
                    f"question {rule.total}",
                    message,
                    group.listed(),
                    group.worst(),
                )
            )
        return found
