"""Loading: a desired-state file read once (bounded), parsed with its locations
(``document``, ``yamlfast``, ``located``), checked against the published schema
(``schema``, assembled by ``schemabuild``) and by the rules a schema cannot say
(``semantics``), then turned into the model (``load``). Never imports a provider."""
