"""The mutants of a project: adding one to the project file, looking one up, the shipped examples.

A mutant is written as a ``[mutants.NAME]`` table of ``mpflow.toml`` (sequence, oligomer,
first_resid) through :meth:`mpflow.project.Project.update_file`, so comments and layout the user
wrote are kept and the file is replaced atomically only once the new content validates. Adding a
mutant that is already there with the same fields is a no-op; with other fields it is refused (its
models were checked against the old sequence).
"""

from __future__ import annotations

from mpflow.mutants import EXAMPLES, Mutant, MutantError
from mpflow.project import Project


def example_mutant(name: str) -> Mutant:
    """The shipped example called ``name`` (any letter case): GpA-WT, G83I or Wza-like."""
    for key, mutant in EXAMPLES.items():
        if key.lower() == name.strip().lower():
            return mutant
    raise MutantError(f"no example mutant {name!r}; the examples are {', '.join(EXAMPLES)}")


def mutant_of(project: Project, name: str) -> Mutant:
    """The project's mutant ``name``, or :class:`MutantError` saying which mutants there are."""
    try:
        return project.config.mutants[name]
    except KeyError:
        have = ", ".join(project.config.mutants) or "none yet"
        raise MutantError(f"no mutant {name!r} in {project.file} (mutants: {have}); add it with "
                          "`mpflow mutant add NAME SEQUENCE`") from None


def add_mutant(project: Project, mutant: Mutant) -> bool:
    """Write ``mutant`` into the project file; False when it is there already with the same fields."""
    import tomlkit

    current = project.config.mutants.get(mutant.name)
    if current is not None:
        if current == mutant:
            return False
        diff = [f for f in ("sequence", "oligomer", "first_resid")
                if getattr(current, f) != getattr(mutant, f)]
        raise MutantError(f"mutant {mutant.name} is already in {project.file} with another "
                          f"{', '.join(diff)}; pick another name")

    def edit(doc) -> None:
        if "mutants" not in doc:
            doc.add("mutants", tomlkit.table(is_super_table=True))
        table = tomlkit.table()
        table.add("sequence", mutant.sequence)
        table.add("oligomer", mutant.oligomer)
        table.add("first_resid", mutant.first_resid)
        table.add(tomlkit.nl())
        doc["mutants"][mutant.name] = table

    project.update_file(edit)
    return True
