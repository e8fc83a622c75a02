from services.ingest.main import DEFINITION, Settings, create_app
from shared.service_main import service_cli

service_cli(DEFINITION, Settings, create_app)()
