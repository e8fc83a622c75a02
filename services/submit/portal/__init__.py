"""Portal adapters behind one interface (`base.Portal`): `http.HttpPortal`, `fake.FakePortal`; `manual`: WING."""
