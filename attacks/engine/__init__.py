"""The parts attack recipes are composed of: the batched search engine (goal, limits, the victim's cache and
batching across examples: :mod:`attacks.engine.search`) and the candidate sources and constraints the recipes
share (WordNet synonyms, character edits, the Genetic attack's language model). No recipe is registered here."""
