from services.portal_sim.main import cli

cli()
