"""Front 1, the BAL publication API (wire-compatible with BaseAdresseNationale/api-depot).

Revisions of one BAL file per commune: create → upload → compute → publish; public reading;
clients, mandataires and chefs de file administered with the admin token.

    models     ORM tables (depot_*) and ids
    tokens     client tokens: generation, hashing, header parsing
    schemas    request bodies (pydantic)
    views      response shapes (the reference's JSON, key for key)
    errors     French error messages and the `{"statusCode", "message"}` wire format
    deps       path-parameter and authentication dependencies
    compute    the validator in a process pool, and api-depot's own rules
    upload     streaming upload to the blob store
    service    revisions: create, attach file, record validation, publish, read
    parties    clients, mandataires, chefs de file
    router     publication and reading routes; parties_router: clients & co
    front      the front's declaration (models, routers, commands, lifespan)
"""
