from services.ingest.main import DEFINITION, create_app
from services.ingest.settings import Settings
from shared.service_main import service_cli

service_cli(DEFINITION, Settings, create_app)()
