from services.submit.main import DEFINITION, create_app
from services.submit.settings import Settings
from shared.service_main import service_cli

service_cli(DEFINITION, Settings, create_app)()
